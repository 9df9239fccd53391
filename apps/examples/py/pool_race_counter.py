# seed 000: race conditions between processes on a Manager Value
from multiprocessing import Manager, Pool, Value

def print_traceback(e):
    print(traceback.print_exception(type(e), e, e.__traceback__))

def add(counter):
    for _ in range(100):
        counter.value += 1

def sub(counter):
    for _ in range(100):
        counter.value -= 1

manager = Manager()
counter = manager.Value('i', 0)
add_pool = Pool(4)
add_pool.starmap_async(add, [(counter,) for _ in range(4)], error_callback=print_traceback)
sub_pool = Pool(2)
sub_pool.starmap_async(sub, [(counter,) for _ in range(2)], error_callback=print_traceback)
add_pool.close()
sub_pool.close()
add_pool.join()
sub_pool.join()
print(counter.value)
