# seed 000: Process Pool
from multiprocessing import Pool
import time
import random

def worker(i):
    time.sleep(random.random())
    print(i)

p = Pool(4)
for i in range(8):
    p.apply_async(worker, args=(i,))
p.close()
p.join()
