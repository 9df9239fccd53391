# seed 000: the same counter with a Manager Lock: 200
from multiprocessing import Manager, Pool, Value

def print_traceback(e):
    print(traceback.print_exception(type(e), e, e.__traceback__))

def add(counter, counter_lock):
    for _ in range(100):
        counter_lock.acquire()
        counter.value += 1
        counter_lock.release()

def sub(counter, counter_lock):
    for _ in range(100):
        counter_lock.acquire()
        counter.value -= 1
        counter_lock.release()

manager = Manager()
counter = manager.Value('i', 0)
counter_lock = manager.Lock()
add_pool = Pool(4)
add_pool.starmap_async(add, [(counter, counter_lock) for _ in range(4)], error_callback=print_traceback)
sub_pool = Pool(2)
sub_pool.starmap_async(sub, [(counter, counter_lock) for _ in range(2)], error_callback=print_traceback)
add_pool.close()
sub_pool.close()
add_pool.join()
sub_pool.join()
print(counter.value)
