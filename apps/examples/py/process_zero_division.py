# seed 000: an exception in the child prints its stack trace
from multiprocessing import Process
import time

def worker(s):
    print(2 / 0)

p = Process(target=worker, args=('Hello, world.',))
p.start()
p.join()
