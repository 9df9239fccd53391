# seed 000: Lock - a Manager Queue, a Manager Value and two Manager Locks
# shared by two pools; consumers exit once every producer has
from multiprocessing import Pool, Manager, Value
import time, random

def print_traceback(e):
    print(traceback.print_exception(type(e), e, e.__traceback__))

def producer(q, producer_id, print_lock):
    for i in range(5):
        time.sleep(random.random())
        q.put(f'product {i} from producer {producer_id}')
    q.put('end') # to notify the consumer process that a producer process has exited
    with print_lock:
        print(f'producer {producer_id} exits')

def consumer(q, consumer_id, producer_count, print_lock, exited_producer_count, count_lock):
    while True:
        try:
            product = q.get_nowait()
        except:
            if exited_producer_count.value == producer_count:
                # all producers have exited
                break
            else:
                continue
        if product == 'end':
            with count_lock:
                exited_producer_count.value += 1
            continue
        with print_lock:
            print(f'{product} consumed by consumer {consumer_id}')
    with print_lock:
        print(f'consumer {consumer_id} exits')

manager = Manager()
q = manager.Queue()
exited_producer_count = manager.Value('i', 0) # type code 'i' means 'signed int' in C type
print_lock = manager.Lock()
count_lock = manager.Lock()
producer_count = 2
consumer_count = 2
producer_pool = Pool(producer_count)
consumer_pool = Pool(consumer_count)
for i in range(producer_count):
    producer_pool.apply_async(producer, args=(q, i, print_lock), error_callback=print_traceback)
for i in range(consumer_count):
    consumer_pool.apply_async(consumer, args=(q, i, producer_count, print_lock, exited_producer_count, count_lock), error_callback=print_traceback)
producer_pool.close()
consumer_pool.close()
producer_pool.join()
consumer_pool.join()
