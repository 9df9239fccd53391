# seed 000: Process
from multiprocessing import Process
import time

def worker(s):
    print('Start sleeping for 2 seconds...')
    time.sleep(2)
    print('Sleeping ends.')
    print(s)

p = Process(target=worker, args=('Hello, world.',))
p.start()
print('before join(), the parent process is not blocked')
p.join()
print('After join()')
