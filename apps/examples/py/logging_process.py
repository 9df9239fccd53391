# seed 004: Logging Process (logging code only)
from multiprocessing import Process
from balsa import balsa_clone

class CalculateE(Process):
    def __init__(self, name: str, logging_config: dict):
        self.name = name # must be unique across processes
        self.logging_config = logging_config
        super().__init__()

    def run(self):
        # must be done in .run()
        balsa_log = balsa_clone(self.logging_config, self.name)
        balsa_log.init_logger()
        # do the work and use the logging module ...
