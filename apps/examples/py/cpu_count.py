# seed 002: multiprocessing module
import multiprocessing

# cpu_count() returns the number of available CPUs
print("CPU count: ", multiprocessing.cpu_count())
