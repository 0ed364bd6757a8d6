namespace Ingestion.Tests.Infrastructure;

/// <summary>Where the repository and the built hosts are, seen from the test assembly.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>Release or Debug: the hosts are run as built alongside these tests.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";

    public static string HostDll(string project) =>
        Path.Combine(Root, project, "bin", Configuration, "net10.0", project + ".dll");

    public static string LogDirectory
    {
        get
        {
            var directory = Path.Combine(Root, ".data", "test-logs");
            Directory.CreateDirectory(directory);
            return directory;
        }
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Ingestion.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Ingestion.sln above {AppContext.BaseDirectory}.");
    }
}
