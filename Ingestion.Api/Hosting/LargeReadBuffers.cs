using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Ingestion.Api.Hosting;

/// <summary>
/// Kestrel's default pool hands its socket reads 4 KiB blocks, so a 2 GB upload costs half
/// a million receive calls, and on virtual machines a system call is not cheap: profiling
/// an upload showed most of the API's CPU in the kernel. Blocks of 64 KiB take the same
/// bytes in a sixteenth of the calls. Blocks come from the shared array pool, and a
/// connection holds one only while it has unread bytes.
/// </summary>
internal sealed class LargeReadBuffersFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockPool();

    private sealed class LargeBlockPool : MemoryPool<byte>
    {
        private const int BlockSize = 64 * 1024;

        public override int MaxBufferSize => BlockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) =>
            new Block(ArrayPool<byte>.Shared.Rent(Math.Max(minBufferSize, BlockSize)));

        protected override void Dispose(bool disposing)
        {
        }
    }

    private sealed class Block(byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } returned)
            {
                ArrayPool<byte>.Shared.Return(returned);
            }
        }
    }
}
