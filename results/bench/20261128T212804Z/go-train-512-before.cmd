env EABS_BENCH_STEPS=50 /tmp/speed/b512.test -test.run ^$ -test.bench ^BenchmarkTrainStepMNIST512$ -test.benchtime 3x
