/* say_hello_single - seed 002 "Let's start with an example": one process,
 * no troupe at all. */
#include <stdio.h>

static void sayHello(void)
{
	printf("Hello from the function sayHello\n");
}

int main(void)
{
	printf("This is the main process: beginning\n");
	sayHello();
	printf("This is the main process: end\n");
	return 0;
}
