# seed 002: Example: using a second process
import multiprocessing as mp

def sayHello():
    print("Hello from the child process")

if __name__ == "__main__":
    print("This is the main process, before starting a new process")
    p1 = mp.Process(target=sayHello)
    p1.start()
    p1.join()
    print("This is the main process after joining")
