env EABS_BENCH_STEPS=50 results/bench/20261126T151011Z/infer.test -test.run ^$ -test.bench ^BenchmarkInferRef16$ -test.benchtime 1x
