using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Console.Views;

/// <summary>
/// One stack for the browser tests of the datasets, statements, sources and ops pages: sources
/// may call the upstream simulator on 127.0.0.1, and the ops page sees only the failures and dead
/// letters these tests make (the shared stack holds every other test's).
/// </summary>
[SetUpFixture]
public sealed class ViewsRun
{
    public static Deployment Stack { get; private set; } = null!;

    public static UpstreamSimulator Simulator { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        Simulator = await UpstreamSimulator.StartAsync(new SimulatorConfig { Events = 300 });
        Stack = await Deployment.StartAsync(TestRun.Servers, "console-views", new Dictionary<string, string>(TestRun.SharedSettings)
        {
            ["Sources__AllowedHosts__0"] = "127.0.0.1",
        });
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (Stack is not null)
        {
            await Stack.DisposeAsync();
        }

        if (Simulator is not null)
        {
            await Simulator.DisposeAsync();
        }
    }
}

/// <summary>A browser test of one of these pages, on <see cref="ViewsRun"/>'s stack.</summary>
public abstract class ViewsTest : ConsoleTest
{
    protected override Uri BaseUrl => ViewsRun.Stack.Api.Url;

    /// <summary>The console asks who is signed in when it opens: before sign-in that is a 401, by design.</summary>
    [SetUp]
    public void ExpectTheFirstSessionCheck() => ExpectConsoleError("/v1/session");

    /// <summary>
    /// The README's screenshot of a page: written to <c>docs/console-{name}.png</c> when
    /// <c>INGESTION_UPDATE_SCREENSHOTS=1</c>, otherwise beside the test results, so an ordinary run
    /// leaves the working tree alone.
    /// </summary>
    protected async Task ScreenshotAsync(string name)
    {
        var update = Environment.GetEnvironmentVariable("INGESTION_UPDATE_SCREENSHOTS") == "1";
        var directory = update ? Path.Combine(Repository.Root, "docs") : Path.Combine(Repository.Root, ".data", "test-results", "console");
        Directory.CreateDirectory(directory);
        await Page.ScreenshotAsync(new() { Path = Path.Combine(directory, $"console-{name}.png"), FullPage = true });
    }
}
