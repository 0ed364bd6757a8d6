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
        const int size = 100 * 1024; // about the size of Arrow's level and value buffers of a page
        var bytes = Enumerable.Repeat((byte)1, size).ToArray();

        // glibc serves a block from a free chunk of an arena that fits before it maps one of its own, and earlier tests
        // leave such chunks (the trim's test, 64 MiB): those are held, untouched, until a block gets a mapping, as every
        // block does once the arenas have nothing to serve it from, rather than grow them.
        var fillers = new List<nint>();
        while (true)
        {
            var mappedBefore = MappedBlockBytes();
            var block = Marshal.AllocHGlobal(size);
            if (MappedBlockBytes() > mappedBefore)
            {
                Marshal.FreeHGlobal(block);
                break;
            }

            fillers.Add(block);
            if (fillers.Count == 2_000)
            {
                fillers.ForEach(Marshal.FreeHGlobal);
                Assert.Fail($"none of {fillers.Count} blocks of {size:N0} bytes got a mapping of its own");
            }
        }

        try
        {
            // 32 MB in such blocks, and one small block after them that stays: carved from an arena, their frees would be
            // a hole kept resident until a trim; each with a mapping of its own, they are given back when freed.
            var blocks = new nint[320];
            var mappedAtStart = MappedBlockBytes();
            for (var i = 0; i < blocks.Length; i++)
            {
                blocks[i] = Marshal.AllocHGlobal(size); // malloc
                Marshal.Copy(bytes, 0, blocks[i], size);
            }

            var kept = Marshal.AllocHGlobal(1024);
            var mapped = MappedBlockBytes() - mappedAtStart;
            var before = ResidentMb();
            foreach (var block in blocks)
            {
                Marshal.FreeHGlobal(block);
            }

            var after = ResidentMb();
            Marshal.FreeHGlobal(kept);

            Assert.Multiple(() =>
            {
                Assert.That(mapped, Is.GreaterThanOrEqualTo(blocks.Length * (long)size), "glibc's mallinfo2: the blocks' own mappings");
                Assert.That(before - after, Is.GreaterThan(24), $"resident {before} MB before the frees, {after} MB after, with no trim");
            });
        }
        finally
        {
            fillers.ForEach(Marshal.FreeHGlobal);
        }
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
                Does.Match($@"(?m)^ENV\s+(?:.*\\\n)*?\s*{setting}(?:\s+\\)?$"), "the image's runtime stage, in its ENV");
            Assert.That(File.ReadAllText(Path.Combine(Repository.Root, "infra", "run.sh")),
                Does.Contain($"{NativeHeap.JitSlabCacheVariable}=\"${{{NativeHeap.JitSlabCacheVariable}:-{NativeHeap.JitSlabCache}}}\""), "make run");
        });
    }

    [Test]
    public void Should_warn_when_the_worker_was_started_without_the_JITs_cap()
    {
        const string older = NativeHeap.JitSlabCacheOlderVariable;
        var was = Environment.GetEnvironmentVariable(NativeHeap.JitSlabCacheVariable);
        var olderWas = Environment.GetEnvironmentVariable(older);
        try
        {
            Environment.SetEnvironmentVariable(older, null);
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, null);
            Assert.That(NativeHeap.JitSlabCacheWarning(), Does.Contain($"{NativeHeap.JitSlabCacheVariable}={NativeHeap.JitSlabCache}"));
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, NativeHeap.JitSlabCache);
            Assert.That(NativeHeap.JitSlabCacheWarning(), Is.Null);
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, null);
            Environment.SetEnvironmentVariable(older, NativeHeap.JitSlabCache);
            Assert.That(NativeHeap.JitSlabCacheWarning(), Is.Null, "set under the runtime's older prefix");
        }
        finally
        {
            Environment.SetEnvironmentVariable(NativeHeap.JitSlabCacheVariable, was);
            Environment.SetEnvironmentVariable(older, olderWas);
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
