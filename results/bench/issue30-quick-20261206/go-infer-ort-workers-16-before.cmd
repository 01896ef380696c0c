env EABS_BENCH_STEPS=2 EABS_BENCH_STARTS=1000 results/bench/issue30-quick-20261206/infer-before.test -test.run ^$ -test.bench ^BenchmarkInferORTWorkers16$ -test.benchtime 1x
