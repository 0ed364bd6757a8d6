using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;

namespace Ingestion.Workers.Limits;

/// <summary>
/// How the worker's native memory is allocated, set once before the host starts its threads, and given back after reads
/// (<see cref="ReturnFreedMemory"/>) and every few seconds (<see cref="Trimmer"/>): by the C library's allocator (glibc), for the worker's own native code and for Apache Arrow's, which reads Parquet pages
/// (<see cref="Parquet.NativeParquetFile"/>). Each setting is the environment's when the environment sets it (the variable, or
/// <c>GLIBC_TUNABLES</c>); the two allocator settings are glibc's, and another C library (musl) is left as it is.
/// <list type="bullet">
/// <item>Arrow's default pool is the C library's (<c>ARROW_DEFAULT_MEMORY_POOL=system</c>), as its readers' is
/// (<see cref="Parquet.NativeParquetFile.Open"/>). Arrow reads a file's footer into a buffer of its default pool, mimalloc, whose
/// per-thread heaps kept each chunk's footer read resident on whichever pool thread had read it: 6 MB after the bench's
/// 5,000,000-row Parquet file, 25 MB after its 20,000,000-row one, for at most 277 KB in use at once.</item>
/// <item>At most <see cref="Arenas"/> arenas. glibc gives each thread that allocates an arena of its own, up to eight
/// per core, and keeps what is freed in an arena for its next allocations: over a long file, every pool thread that had
/// read a chunk kept an arena the size of a row group's page headers and decoders. Their total (glibc's <c>mallinfo2</c>)
/// grew from 32 MB to 53 MB between the two files; capped here, from 28 to 40 MB, the threads the runtime started before
/// this keeping arenas of their own; capped by <c>MALLOC_ARENA_MAX=2</c> in the environment, from the process's first
/// thread, 32 and 26 MB. The image and <c>make run</c> set that variable; this is for a worker started without it.</item>
/// <item>Every block of <see cref="MmapThreshold"/> or more gets its own mapping, returned to the system when freed. By
/// default glibc raises that threshold to the largest block freed so far, after which Arrow's page and read buffers
/// (about 1 MiB each, freed at every column chunk) were carved from the arenas and stayed resident there: 18 MB more RSS
/// for the bench's 1,000,000-row file (218 MB peak with it, 236 without). The threshold is 64 KiB rather than glibc's
/// 128 KiB: Arrow's level and value buffers of a page (about 100 KB each, a burst of them at every row group) filled
/// the main arena's freed pages again within a second of each trim, 13 MB at once, which a load's peak met: the main
/// heap stayed at 2-3 MB with 64 KiB, and the worker's peak of <c>make bench-ingest ROWS=5000000 FORMAT=parquet</c>
/// went from 221-224 MB to 213-215 MB, for the same CPU.</item>
/// </list>
/// </summary>
internal static partial class NativeHeap
{
    /// <summary>The arenas the process may have: one per core of the two a worker is sized for.</summary>
    public const int Arenas = 2;

    /// <summary>The size from which a block gets a mapping of its own.</summary>
    public const int MmapThreshold = 64 << 10;

    private const int ArenaMax = -8; // M_ARENA_MAX
    private const int MmapThresholdOption = -3; // M_MMAP_THRESHOLD

    /// <summary>
    /// The runtime's variable for how much of the JIT's freed working memory it keeps for its next compilations (64 KiB
    /// slabs; it stops caching once the total reaches the value), and the value the image, <c>make run</c> and the tests'
    /// and benches' hosts start every process with: 1 MiB, rather than the runtime's 16 MiB. A worker compiles most of its
    /// code in its first jobs, on several threads at once, and the runtime kept what they freed: 165 slabs, 11 MB, in the
    /// heap dump of a worker loading the bench's Parquet file, and the peak of its first Parquet job (the bench's warm-up)
    /// went from 212.6-215.4 to 206.5-208.1 MB without them.
    /// The runtime reads it before any managed code runs, so only the environment can set it; a worker started without
    /// it says so (<see cref="JitSlabCacheWarning"/>).
    /// </summary>
    public const string JitSlabCacheVariable = "DOTNET_JitHostMaxSlabCache";

    /// <summary>The same variable under the runtime's older prefix, which it still reads.</summary>
    public const string JitSlabCacheOlderVariable = "COMPlus_JitHostMaxSlabCache";

    /// <summary>The value of <see cref="JitSlabCacheVariable"/> (the runtime reads it as hexadecimal): 1 MiB.</summary>
    public const string JitSlabCache = "0x100000";

    /// <summary>
    /// What to warn of when the process was started without <see cref="JitSlabCacheVariable"/> (or with it empty, which
    /// the runtime ignores), or null.
    /// </summary>
    public static string? JitSlabCacheWarning() =>
        string.IsNullOrEmpty(Environment.GetEnvironmentVariable(JitSlabCacheVariable))
        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(JitSlabCacheOlderVariable))
        ? $"{JitSlabCacheVariable} is not set: the runtime keeps up to 16 MiB of the JIT's freed memory; start the worker with {JitSlabCacheVariable}={JitSlabCache}, as the image does"
        : null;

    /// <summary>Applies the settings; returns those it applied (not those the environment sets, nor glibc's elsewhere).</summary>
    public static IReadOnlyList<string> Configure()
    {
        var applied = new List<string>();
        if (!OperatingSystem.IsLinux())
        {
            return applied;
        }

        try
        {
            // Read by Arrow when its default pool is first used: no Parquet file has been opened yet.
            if (CLibraryVariable("ARROW_DEFAULT_MEMORY_POOL") is null
                && SetEnvironment("ARROW_DEFAULT_MEMORY_POOL", "system", overwrite: 0) == 0)
            {
                applied.Add("ARROW_DEFAULT_MEMORY_POOL=system");
            }

            if (!SetByEnvironment("MALLOC_ARENA_MAX", "glibc.malloc.arena_max") && SetMallocOption(ArenaMax, Arenas) == 1)
            {
                applied.Add($"M_ARENA_MAX={Arenas}");
            }

            if (!SetByEnvironment("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold")
                && SetMallocOption(MmapThresholdOption, MmapThreshold) == 1)
            {
                applied.Add($"M_MMAP_THRESHOLD={MmapThreshold}");
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Another C library, which has no mallopt: its allocator is left as it is.
        }

        return applied;
    }

    private static int _poolReported;

    /// <summary>
    /// The backend of Arrow's default pool (<c>system</c>, <c>mimalloc</c>, <c>jemalloc</c>) the first time this is asked in the
    /// process, null after: what Arrow took, not what <see cref="Configure"/> meant (Arrow reads its variable once, at its
    /// first use, so a setting made too late, or a library that ignores it, shows here), for the worker to log once. Asked
    /// only once a Parquet file is open: asking loads Arrow's native library.
    /// </summary>
    public static string? ArrowPoolOnce() =>
        Interlocked.Exchange(ref _poolReported, 1) == 0 ? ParquetSharp.MemoryPool.GetDefaultMemoryPool().BackendName : null;

    /// <summary>How much decoded column data is read, process-wide, between two trims (<see cref="ReturnFreedMemory"/>).</summary>
    public const long TrimEveryBytes = 16L << 20;

    /// <summary>How often the worker trims whatever it is doing (<see cref="Trimmer"/>).</summary>
    public static readonly TimeSpan TrimPeriod = TimeSpan.FromSeconds(5);

    private const long TrimEveryMilliseconds = 250;
    private static long _freedSinceTrim;
    private static long _lastTrim;
    private static int _trimming;
    private static volatile bool _canTrim = OperatingSystem.IsLinux();

    /// <summary>
    /// Gives the pages the C library holds free back to the system (<c>malloc_trim</c>, glibc only) once readers have freed
    /// <see cref="TrimEveryBytes"/> of decoded column data (a row group's column readers, a file's reader), at most every
    /// 250 ms and by one thread at a time. Below the mmap threshold Arrow's allocations (page headers, decoders, each
    /// reader's copy of the footer) come from per-thread arenas, and the holes their frees leave between live blocks stay
    /// resident: the worker's peak grew with the file, 250-266 MB at 5,000,000 rows and 309 MB at 20,000,000 (<c>make
    /// bench-ingest FORMAT=parquet</c>, 100,000-row groups). A trim walks and locks every arena and the next reads fault the
    /// pages in again, hence the spacing: a file of many tiny row groups trims as often as one of few large ones.
    /// </summary>
    /// <param name="freedBytes">The decoded column data of what was just freed.</param>
    public static void ReturnFreedMemory(long freedBytes)
    {
        if (_canTrim && Interlocked.Add(ref _freedSinceTrim, freedBytes) >= TrimEveryBytes
            && Environment.TickCount64 - Interlocked.Read(ref _lastTrim) >= TrimEveryMilliseconds)
        {
            _ = Trim();
        }
    }

    /// <summary>Trims, unless another thread is trimming or the C library cannot; says whether it trimmed.</summary>
    internal static bool Trim()
    {
        if (!_canTrim || Interlocked.Exchange(ref _trimming, 1) == 1)
        {
            return false;
        }

        try
        {
            _ = TrimMalloc(0);
            Interlocked.Exchange(ref _freedSinceTrim, 0);
            Interlocked.Exchange(ref _lastTrim, Environment.TickCount64);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Another C library (musl), which has no such call: not asked again.
            _canTrim = false;
            return false;
        }
        finally
        {
            Interlocked.Exchange(ref _trimming, 0);
        }
    }

    /// <summary>
    /// Trims every <see cref="TrimPeriod"/>, whatever the worker runs. What the runtime allocates natively and frees (the
    /// JIT's memory as it compiles the worker's code at start and at each new kind of job, buffers of the libraries it
    /// calls) stays in the C library's heap, resident, until a trim: 17 MB of the plain CSV bench's worker after its
    /// warm-up job, of which a trim gave back 9 MB (<c>malloc_trim</c> called from a debugger). With this, the peak RSS of
    /// <c>make bench-ingest ROWS=5000000</c>'s worker went from 190 to 178 MB for the plain CSV, and was 179 MB for gzip
    /// and 189 MB for zstd (200-207 before). A trim of that heap takes well under a millisecond; pages given back and used
    /// again are faulted in again.
    /// </summary>
    public sealed class Trimmer : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TrimPeriod);
            try
            {
                while (_canTrim && await timer.WaitForNextTickAsync(stoppingToken))
                {
                    _ = Trim();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // The host is stopping.
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int TrimMalloc(nuint pad);

    /// <summary>Whether glibc's setting is the environment's: its variable, or its tunable in <c>GLIBC_TUNABLES</c>.</summary>
    private static bool SetByEnvironment(string variable, string tunable) =>
        Environment.GetEnvironmentVariable(variable) is not null
        || (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Split(':')
            .Any(t => t.StartsWith(tunable + "=", StringComparison.Ordinal));

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int SetMallocOption(int option, int value);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnvironment(string name, string value, int overwrite);

    /// <summary>
    /// An environment variable as native code reads it: .NET keeps a copy of the environment of its own on Linux, which
    /// <see cref="Environment.SetEnvironmentVariable(string, string)"/> changes and the C library's does not see.
    /// </summary>
    public static string? CLibraryVariable(string name) => Marshal.PtrToStringUTF8(GetEnvironment(name));

    /// <summary>The C library's value of a variable, in its own memory (not to be freed, hence not marshalled as a string).</summary>
    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetEnvironment(string name);
}
