/* Allocates through liblate.so; the library's destructor frees (tests/e2e/shim.sh). */
void late_keep(void);
int main(void)
{
    late_keep();
    return 0;
}
