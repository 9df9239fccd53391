# seed 002: The multiprocessing.Process class (passing a string)
from multiprocessing import Process

def sayHello(name):
    print("Hello", name)

if __name__ == '__main__':
    p = Process(target=sayHello, args=("Victor",))
    p.start()
    p.join()
