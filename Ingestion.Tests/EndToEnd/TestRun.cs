using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd;

/// <summary>
/// Starts what the end-to-end tests run against, once: the real servers (natively through
/// infra/, or in containers where a Docker engine answers) and a shared stack of the
/// service's processes. Tests that kill or cut processes start stacks of their own.
/// </summary>
[SetUpFixture]
public sealed class TestRun
{
    private static ContainerServers? _containers;

    public static Servers Servers { get; private set; } = null!;

    public static Deployment Shared { get; private set; } = null!;

    /// <summary>Small batches, so that even test-sized files commit many checkpoints.</summary>
    public static readonly IReadOnlyDictionary<string, string> SharedSettings = new Dictionary<string, string>
    {
        ["Processing__BatchRows"] = "500",
        ["Processing__SliceDuration"] = "00:00:02",

        // Datasets of a few thousand rows count as large, so the read API's index refusal shows.
        ["Reads__UnindexedScanMaxRows"] = "1000",

        // An index build that waits out a busy table fails as table_busy in seconds, not after the default 30 s.
        ["IndexBuilds__LockTimeout"] = "00:00:05",

        // An index build lets its message go after a second, not five minutes: builds outlive their message in tests too.
        ["IndexBuilds__MaxHold"] = "00:00:01",
    };

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var mode = Environment.GetEnvironmentVariable("INGESTION_TEST_SERVERS") ?? "auto";
        if (mode == "docker" || (mode == "auto" && ContainerServers.DockerAnswers()))
        {
            _containers = new ContainerServers();
            Servers = await _containers.StartAsync();
        }
        else
        {
            Servers = await NativeServers.StartAsync();
        }

        Shared = await Deployment.StartAsync(Servers, "shared", SharedSettings);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (Shared is not null)
        {
            await Shared.DisposeAsync();
        }

        if (_containers is not null)
        {
            await _containers.DisposeAsync();
        }
    }
}
