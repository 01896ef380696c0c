results/bench/issue30-quick-20261206/blas.test -test.run ^$ -test.bench ^BenchmarkSgemm1024(Parallel)?$ -test.benchtime 6x
