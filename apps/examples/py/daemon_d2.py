# seed 002: Example d2
import multiprocessing as mp
import time

def myProcess():
    print("Starting the child Process")
    print(f"Child process started: {mp.current_process()} pid = {mp.current_process().pid}")
    time.sleep(3)
    print("Child process terminating ...")

if __name__ == "__main__":
    print(f"Main process: {mp.current_process()} pid = {mp.current_process().pid}")
    p = mp.Process(target=myProcess, name="child")
    p.daemon = True
    p.start()
    print("Let's see if the child process continues to execute")
    time.sleep(1)
    print("Main process terminating ...")
