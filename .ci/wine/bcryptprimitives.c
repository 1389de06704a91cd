/*
 * bcryptprimitives.dll for Wine 8, which lacks it: Rust's std (1.78 and
 * later) imports ProcessPrng from it, so without this every Windows
 * program of ours fails to start under Wine (c0000135). It forwards to
 * advapi32's RtlGenRandom (SystemFunction036), the generator std used
 * before. Only for running the tests under Wine; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        length -= piece;
    }
    return TRUE;
}
