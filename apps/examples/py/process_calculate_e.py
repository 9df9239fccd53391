# seed 004: calculate_e in a Process subclass, stopped by an Event
from multiprocessing import Process, Event, SimpleQueue
import time

def calculate_e(exit_event: Event) -> float:
    """
    calculate "e" to do some work
    """
    k = 1.0
    e_value = 0.0
    iteration = 0
    # exit when exit_event is set
    while iteration % 1000 != 0 or not exit_event.is_set():
        e_value += 1.0 / k
        k *= iteration + 1
        iteration += 1
    return e_value

class CalculateE(Process):
    def __init__(self):
        self._result_queue = SimpleQueue() # from multiprocessing
        self._result = None # result placed here
        self.exit_event = Event() # will tell process to stop
        super().__init__(name="calculate_e_process") # named

    def run(self):
        returned_e_value = calculate_e(self.exit_event)
        # return the value in the Queue
        self._result_queue.put(returned_e_value)

    def get(self) -> float:
        if self._result is None:
            self._result = self._result_queue.get() # blocks
        return self._result

if __name__ == "__main__":
    e_process = CalculateE()
    e_process.start()
    time.sleep(3)  # do other useful stuff ...
    e_process.exit_event.set()  # tell process to stop
    print(e_process.get())  # print e
