# seed 004: multiprocessing.Pool Example (an Event from a SyncManager)
import time
from multiprocessing import Pool
from multiprocessing.managers import SyncManager

def calculate_e(exit_event) -> float:
    k = 1.0
    e_value = 0.0
    iteration = 0
    # exit when exit_event is set
    while iteration % 1000 != 0 or not exit_event.is_set():
        e_value += 1.0 / k
        k *= iteration + 1
        iteration += 1
    return e_value

if __name__ == "__main__":
    sync_manager = SyncManager()
    sync_manager.start()

    with Pool() as pool:
        # for pool, use Event from SyncManager
        e_exit_event = sync_manager.Event()
        # same "e" calculation as before, Pool() manages return data
        e_proc = pool.apply_async(calculate_e, args=(e_exit_event,))
        time.sleep(3) # do other stuff
        e_exit_event.set() # tell calculate_e to stop
        print(e_proc.get())
