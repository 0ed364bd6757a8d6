using System.Runtime.InteropServices;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Limits;

namespace Ingestion.Tests.Unit;

/// <summary>
/// The worker's native memory settings (<see cref="NativeHeap"/>), applied to this process as the worker applies them
/// when it starts: each is taken by the C library (glibc) or left to what the environment sets.
/// </summary>
public sealed class Native_heap
{
    [Test]
    public void Should_give_arrow_the_C_librarys_allocator_and_cap_the_C_librarys_arenas()
    {
        var applied = NativeHeap.Configure();

        // Native code reads the C library's environment, not .NET's copy of it.
        Assert.That(NativeHeap.CLibraryVariable("ARROW_DEFAULT_MEMORY_POOL"),
            Is.EqualTo(Environment.GetEnvironmentVariable("ARROW_DEFAULT_MEMORY_POOL") ?? "system"));
        if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is null)
        {
            Assert.That(applied, Does.Contain($"M_ARENA_MAX={NativeHeap.Arenas}"), "glibc took the arena cap");
        }

        if (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is null)
        {
            Assert.That(applied, Does.Contain($"M_MMAP_THRESHOLD={NativeHeap.MmapThreshold}"), "glibc took the mapping threshold");
        }

        // Set now, as an operator's setting would be: a second start-up leaves it as it is.
        Assert.That(NativeHeap.Configure(), Does.Not.Contain("ARROW_DEFAULT_MEMORY_POOL=system"));
    }

    [Test]
    public void Should_give_back_the_memory_the_C_library_holds_free()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("malloc_trim is glibc's");
        }

        // 64 MiB in blocks below the mapping threshold, carved from an arena, then one more that stays: the freed ones are
        // a hole in the arena, which the C library keeps resident (it gives back only an arena's free top by itself).
        var ones = Enumerable.Repeat((byte)1, 1024).ToArray();
        var blocks = new nint[64 * 1024];
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(ones.Length); // malloc
            Marshal.Copy(ones, 0, blocks[i], ones.Length);
        }

        var kept = Marshal.AllocHGlobal(ones.Length);
        foreach (var block in blocks)
        {
            Marshal.FreeHGlobal(block);
        }

        var before = ResidentMb();
        // Another thread's trim under way (a Parquet reader closing) skips this one: tried again after it.
        var trimmed = NativeHeap.Trim();
        for (var attempt = 0; attempt < 3 && !trimmed; attempt++)
        {
            Thread.Sleep(50);
            trimmed = NativeHeap.Trim();
        }

        var after = ResidentMb();
        Marshal.FreeHGlobal(kept);

        Assert.That(trimmed, "glibc's malloc_trim was called");

        Assert.That(before - after, Is.GreaterThan(32), $"resident {before} MB before the trim, {after} MB after");
    }

    [Test]
    public void Should_give_back_a_freed_block_of_a_pages_size_at_once()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Contains("glibc.malloc.mmap_threshold", StringComparison.Ordinal))
        {
            Assert.Ignore("the mapping threshold is glibc's, and this environment sets its own");
        }

        NativeHeap.Configure();

        // 32 MB in blocks of about 100 KB, the size of Arrow's level and value buffers of a page, and one small block after
        // them that stays: below the threshold they would be carved from an arena, and their frees a hole kept resident
        // until a trim; above it each has a mapping of its own, given back when it is freed.
        var bytes = Enumerable.Repeat((byte)1, 100 * 1024).ToArray();
        var blocks = new nint[320];
        var mappedBefore = MappedBlockBytes();
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(bytes.Length); // malloc
            Marshal.Copy(bytes, 0, blocks[i], bytes.Length);
        }

        var kept = Marshal.AllocHGlobal(1024);
        var mapped = MappedBlockBytes() - mappedBefore;
        var before = ResidentMb();
        foreach (var block in blocks)
        {
            Marshal.FreeHGlobal(block);
        }

        var after = ResidentMb();
        Marshal.FreeHGlobal(kept);

        Assert.Multiple(() =>
        {
            Assert.That(mapped, Is.GreaterThanOrEqualTo(blocks.Length * (long)bytes.Length), "glibc's mallinfo2: the blocks' own mappings");
            Assert.That(before - after, Is.GreaterThan(24), $"resident {before} MB before the frees, {after} MB after, with no trim");
        });
    }

    [Test]
    public void Should_start_every_host_with_the_JITs_freed_memory_capped()
    {
        var setting = $"{NativeHeap.JitSlabCacheVariable}={NativeHeap.JitSlabCache}";
        Assert.Multiple(() =>
        {
            Assert.That($"{HostProcess.JitSlabCacheVariable}={HostProcess.JitSlabCache}", Is.EqualTo(setting), "the tests' and benches' hosts");
            var image = File.ReadAllText(Path.Combine(Repository.Root, "Dockerfile"));
            Assert.That(image[image.LastIndexOf("\nFROM ", StringComparison.Ordinal)..],
                Does.Match($@"(?m)^ENV (.*\\\n)*\s+{setting} \\$"), "the image's runtime stage, in its ENV");
            Assert.That(File.ReadAllText(Path.Combine(Repository.Root, "infra", "run.sh")),
                Does.Contain($"{NativeHeap.JitSlabCacheVariable}=\"${{{NativeHeap.JitSlabCacheVariable}:-{NativeHeap.JitSlabCache}}}\""), "make run");
        });
    }

    [Test]
    public void Should_warn_when_the_worker_was_started_without_the_JITs_cap()
    {
        var was = Environment.GetEnvironmentVariable(NativeHeap.JitSlabCacheVariable);
        try
        {
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, null);
            Assert.That(NativeHeap.JitSlabCacheWarning(), Does.Contain($"{NativeHeap.JitSlabCacheVariable}={NativeHeap.JitSlabCache}"));
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, NativeHeap.JitSlabCache);
            Assert.That(NativeHeap.JitSlabCacheWarning(), Is.Null);
        }
        finally
        {
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, was);
        }
    }

    /// <summary>What glibc holds in blocks of their own mapping (<c>mallinfo2</c>'s <c>hblkhd</c>).</summary>
    private static long MappedBlockBytes() => (long)MallocInfo().MappedBytes;

#pragma warning disable CS0649 // filled by the C library
    [StructLayout(LayoutKind.Sequential)]
    private readonly struct MallInfo2
    {
        public readonly nuint Arena, OrdinaryBlocks, SmallBlocks, MappedBlocks, MappedBytes, UsmBlocks, FreeSmallBytes, InUse, Free, TopReleasable;
    }
#pragma warning restore CS0649

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 MallocInfo();

    private static double ResidentMb() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
}
