using System.Runtime.InteropServices;
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

    private static double ResidentMb() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
}
