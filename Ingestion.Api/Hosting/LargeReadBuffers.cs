using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Ingestion.Api.Hosting;

/// <summary>
/// Kestrel's default pool hands its socket reads 4 KiB blocks, so a 2 GB upload costs half
/// a million receive calls, and on virtual machines a system call is not cheap: profiling
/// an upload showed most of the API's CPU in the kernel. Blocks of 64 KiB take the same
/// bytes in a sixteenth of the calls. A connection holds one only while it has unread bytes,
/// and every response is written into one too.
/// The blocks come from a pool of their own that keeps up to <see cref="RetainedBlocks"/>
/// of them, not from the shared array pool, which keeps a few dozen arrays of a size on two cores:
/// under a burst of reads (hundreds of requests in flight) every rent past those allocated a new 64 KiB
/// array that lived as long as its request, and the API spent its time collecting them. make bench-read
/// --explain 1 (reduced), the first seconds at 2,000 req/s: about 50 gen1 and 10 gen2 collections and
/// 600 ms of GC pause a second with the shared pool; with this one, gen1 collections stop after 4 s, and
/// the warm-up's step to 2,000 req/s went from p50 300-1,160 ms to 4 ms.
/// </summary>
internal sealed class LargeReadBuffersFactory : IMemoryPoolFactory<byte>
{
    private const int BlockSize = 64 * 1024;

    /// <summary>
    /// Blocks kept for reuse, by the whole process (32 MiB at most, kept only once that many were in use at once); past it
    /// they are left to the GC. Kestrel asks the factory for a pool per I/O queue and listener: they all share these.
    /// </summary>
    public const int RetainedBlocks = 512;

    private readonly ArrayPool<byte> _blocks = ArrayPool<byte>.Create(BlockSize, RetainedBlocks);

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockPool(_blocks);

    private sealed class LargeBlockPool(ArrayPool<byte> blocks) : MemoryPool<byte>
    {
        private readonly ArrayPool<byte> _blocks = blocks;

        public override int MaxBufferSize => BlockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) =>
            new Block(_blocks, _blocks.Rent(Math.Max(minBufferSize, BlockSize)));

        protected override void Dispose(bool disposing)
        {
        }
    }

    private sealed class Block(ArrayPool<byte> pool, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } returned)
            {
                pool.Return(returned);
            }
        }
    }
}
