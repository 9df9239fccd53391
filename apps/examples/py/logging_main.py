# seed 004: Logging main (balsa: a third-party logging package)
from balsa import Balsa
from multiprocessing_talk import CalculateE

balsa = Balsa("myapp", "myname")
balsa.init_logger()
balsa_config = balsa.config_as_dict()

e_process = CalculateE(balsa_config) # pass in log config
e_process.start()
e_process.exit_event.set()
e_process.join()
