#include <iostream>
int main() { std::cout << "yopo\n"; }
