# seed 002: a simple single-process program
def sayHello():
    print("Hello from the function sayHello")

if __name__ == "__main__":
    print("This is the main process: beginning")
    sayHello()
    print("This is the main process: end")
