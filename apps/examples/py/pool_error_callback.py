# seed 000: an error callback prints the task's traceback
from multiprocessing import Pool
import traceback

def worker(i):
    print(i / 0)

def print_traceback(e):
    print(traceback.print_exception(type(e), e, e.__traceback__))

p = Pool(1)
for i in range(2):
    p.apply_async(worker, args=(i,), error_callback=print_traceback)
p.close()
p.join()
