"""The dry run of `lvcd colorize`: what `lvcd.api.colorize_video` would do, without loading weights (`plan_render`),
and its printed form (`format_plan`). Re-exported by `lvcd.api`."""

from __future__ import annotations

from .backends import resolve_backend
from .model_dir import model_size_for
from .options import RenderOptions

__all__ = ["format_plan", "plan_render"]


def plan_render(input, options: RenderOptions | None = None, **kwargs) -> dict:
    """What `colorize_video` would do, without loading weights: source facts, backend, model size, window plan and
    (diffusion) a resource estimate from the real architecture counted on meta tensors."""
    from .model_dir import video_frames
    from .sampling import SegmentConfig, plan_segments
    from .video import probe

    k = len(kwargs.pop("extra_references", None) or [])  # extra references (issue 15): their cost grows with K
    opts = RenderOptions.of(options, **kwargs)
    info = probe(input)
    backend, model_dir = resolve_backend(opts, strict=False)
    size = opts.size or model_size_for(info.width, info.height)
    plan = {
        "input": str(input),
        "frames": info.frame_count,
        "fps": str(info.fps),
        "source_size": [info.width, info.height],
        "audio": info.has_audio,
        "backend": backend,
        "model": str(model_dir) if model_dir else None,
        "extra_references": k,
    }
    if backend == "diffusion":
        from . import preflight

        cfg = SegmentConfig(video_frames=video_frames(model_dir), overlap=opts.overlap)
        segs = plan_segments(info.frame_count, cfg)
        device = opts.device or ("cuda" if _cuda() else "cpu")
        cost = preflight.model_cost(size[1], size[0], model_dir, opts.overlap, extra_references=k > 0)
        dclass = preflight.device_class(device)
        plan.update(
            {
                "model_size": list(size),
                "windows": len(segs),
                "window_frames": cfg.window,
                "steps": opts.steps,
                "overlap": opts.overlap,
                "padded_tail_frames": (segs[-1].start + len(segs[-1].video) - info.frame_count) if segs else 0,
                "denoiser_calls": len(segs) * opts.steps,
                "tflops_per_call": round(preflight.flops_per_call(cost, k) / 1e12, 2),
                "tflops_total": round(
                    (
                        len(segs) * opts.steps * preflight.flops_per_call(cost, k)
                        + info.frame_count * cost.flops_vae_decode_per_frame
                    )
                    / 1e12,
                    1,
                ),
                "vram_estimate_gib": preflight.vram_table(cost, extra_refs=k),
                "device": device,
                "device_class": dclass,
                "assumed_tflops": preflight.ASSUMED_TFLOPS[dclass],
                "time_estimate_s": round(preflight.estimate_seconds(cost, info.frame_count, opts.steps, dclass, k), 1),
                "windows_detail": [
                    {
                        "index": s.index,
                        "frames": [s.video[0], s.video[-1]],
                        "mode": s.mode,
                        "emits": [s.emit_start, s.emit_stop - 1],
                    }
                    for s in segs[:5]
                ],
            }
        )
        preflight.refuse_extra_references(cost, opts, device, k)  # LVCDError with the numbers when K does not fit
    return plan


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def format_plan(plan: dict) -> str:
    lines = [
        f"input     {plan['input']}: {plan['frames']} frames, {plan['fps']} fps, "
        f"{plan['source_size'][0]}x{plan['source_size'][1]}, audio: {'yes' if plan['audio'] else 'no'}",
        f"backend   {plan['backend']}" + (f" ({plan['model']})" if plan.get("model") else ""),
    ]
    if "windows" in plan:
        refs = f", {1 + plan['extra_references']} references used together" if plan.get("extra_references") else ""
        lines += [
            f"model     {plan['model_size'][0]}x{plan['model_size'][1]}, {plan['windows']} windows of "
            f"{plan['window_frames']} frames "
            f"(overlap {plan['overlap']}, {plan['padded_tail_frames']} padded tail frames), {plan['steps']} steps",
            f"compute   {plan['denoiser_calls']} denoiser calls x {plan['tflops_per_call']} TFLOP "
            f"= {plan['tflops_total']} TFLOP with decoding",
            f"time      ~{plan['time_estimate_s']} s on {plan['device']} ({plan['device_class']}, assuming "
            f"{plan['assumed_tflops']} TFLOP/s sustained)",
            f"memory    predicted peak GiB (offload none / model / sequential){refs}:",
        ]
        for row in plan["vram_estimate_gib"]:
            lines.append(
                f"            {row['dtype']:>9}: {row['none_gib']:6.2f} / {row['model_gib']:6.2f} / "
                f"{row['sequential_gib']:6.2f}"
            )
        for w in plan["windows_detail"]:
            lines.append(
                f"window {w['index']:>3}  video frames {w['frames'][0]}..{w['frames'][1]}  mode {w['mode']:8}"
                f"  emits {w['emits'][0]}..{w['emits'][1]}"
            )
        if plan["windows"] > len(plan["windows_detail"]):
            lines.append(f"          ... {plan['windows'] - len(plan['windows_detail'])} more windows")
    return "\n".join(lines)
