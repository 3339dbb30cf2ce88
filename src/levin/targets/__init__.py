"""Where a generated model runs: `build` compiles it with the host's C compiler and runs it on
inputs (bit-exact checks, timing); `cortexm` cross-compiles it for a Cortex-M core and runs it
under qemu (instruction counts, flash and RAM); `device_numbers` measures what a model's C build
uses on a core and estimates time and energy on a device (`levin profile model.lvn`)."""
