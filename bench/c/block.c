// block: a child that does nothing until it is killed, for the "10,000 live children"
// benchmark. Built static where the toolchain allows, so each instance costs the machine
// only a few pages.
#include <unistd.h>

int main(void) {
  for (;;) pause();
}
