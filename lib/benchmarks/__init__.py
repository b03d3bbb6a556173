"""What ``make benchmark`` measures: each fast path of the study beside the plain way.

- :mod:`lib.benchmarks.engine`            bf16 / channels_last against fp32 NCHW, per model and end to end
- :mod:`lib.benchmarks.time_to_accuracy`  test accuracy against wall-clock seconds, two training recipes
"""
