# seed 000: Communication Between Processes (one producer, one consumer)
from multiprocessing import Process, Queue
import time, random

def producer(q):
    for i in range(5):
        time.sleep(random.random())
        q.put(i)
    q.put('end') # to notify the consumer process that the producer process has exited
    print('producer exits')

def consumer(q):
    while True:
        product = q.get()
        if product == 'end':
            break
        print(product)
    print('consumer exits')

q = Queue()
p1 = Process(target=producer, args=(q,))
p2 = Process(target=consumer, args=(q,))
p1.start()
p2.start()
p1.join()
p2.join()
