using Ingestion.Workers.Parquet;

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
}
