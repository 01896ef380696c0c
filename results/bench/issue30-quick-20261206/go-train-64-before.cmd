env EABS_BENCH_STEPS=2 EABS_BENCH_STARTS=1000 results/bench/issue30-quick-20261206/train-before.test -test.run ^$ -test.bench ^BenchmarkTrainStepMNIST64$ -test.benchtime 2x
