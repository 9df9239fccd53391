# seed 000: a Manager Queue shared by two pools
from multiprocessing import Pool, Manager
import time, random

def print_traceback(e):
    print(traceback.print_exception(type(e), e, e.__traceback__))

def producer(q, producer_id):
    for i in range(5):
        time.sleep(random.random())
        q.put(f'product {i} from producer {producer_id}')
    q.put('end') # to notify the consumer process that the producer process has exited
    print(f'producer {producer_id} exits')

def consumer(q, consumer_id):
    while True:
        product = q.get()
        if product == 'end':
            break
        print(f'{product} consumed by consumer {consumer_id}')
    print(f'consumer {consumer_id} exits')

manager = Manager()
q = manager.Queue()
producer_count = 2
consumer_count = 2
producer_pool = Pool(producer_count)
consumer_pool = Pool(consumer_count)
for i in range(producer_count):
    producer_pool.apply_async(producer, args=(q, i), error_callback=print_traceback)
for i in range(consumer_count):
    consumer_pool.apply_async(consumer, args=(q, i), error_callback=print_traceback)
producer_pool.close()
consumer_pool.close()
producer_pool.join()
consumer_pool.join()
