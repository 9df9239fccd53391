# seed 001: "A simple example of doing it"
from multiprocessing import Process

def func_a(name):
    print('hello', name)

def func_b(name):
    print('hello', name)

if __name__ == '__main__':
    procs = []
    p1 = Process(target=func_a, args=('bob',))
    p1.start()
    procs.append(p1)
    p2 = Process(target=func_b, args=('jerry',))
    p2.start()
    procs.append(p2)
    for p in procs:
        p.join()
