# One line per fuzz target: qs_fuzz_target(<name> LIBS <libraries>)
qs_fuzz_target(safetensors LIBS qs_io)
# qs_fuzz_target(config LIBS qs_model)
