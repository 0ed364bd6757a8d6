using System.Collections.Concurrent;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;
using NUnit.Framework.Interfaces;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// Base of the console's browser tests: one headless Debian Chromium per run (Playwright's own
/// browser download cannot work here), a fresh browser context (no cookies) and page per test,
/// against the shared deployment's API. Every console message and page error is collected;
/// <see cref="AssertNoConsoleErrors"/> fails on any the test did not expect. A failed test
/// leaves a screenshot and the page's console under <c>.data/test-results/console/</c>.
/// </summary>
public abstract class ConsoleTest
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly SemaphoreSlim Starting = new(1, 1);
    private static IPlaywright? _playwright;
    private static IBrowser? _browser;

    private readonly ConcurrentQueue<string> _log = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly List<string> _expectedErrors = [];

    protected IBrowserContext Context { get; private set; } = null!;

    protected IPage Page { get; private set; } = null!;

    /// <summary>The API (and console) under test; override to test another host.</summary>
    protected virtual Uri BaseUrl => TestRun.Shared.Api.Url;

    /// <summary>The browser's window: a laptop unless a test says otherwise.</summary>
    protected virtual ViewportSize Viewport => new() { Width = 1280, Height = 900 };

    protected string ConsoleUrl(string hash = "") => new Uri(BaseUrl, "/console/" + hash).ToString();

    [SetUp]
    public async Task OpenPageAsync()
    {
        // NUnit runs a fixture's tests on one instance: each test starts with a clean record.
        _log.Clear();
        _errors.Clear();
        _expectedErrors.Clear();
        var browser = await BrowserAsync();
        Context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseUrl.ToString(), ViewportSize = Viewport });
        Context.SetDefaultTimeout(15_000);
        await NewPageAsync();
    }

    /// <summary>Another tab of the same browser (same session), watched like the first; it becomes <see cref="Page"/>.</summary>
    protected async Task<IPage> NewPageAsync()
    {
        var page = await Context.NewPageAsync();
        page.Console += (_, message) =>
        {
            var line = $"{message.Type}: {message.Text} ({message.Location})";
            _log.Enqueue(line);
            if (message.Type == "error")
            {
                _errors.Enqueue(line);
            }
        };
        page.PageError += (_, error) =>
        {
            _log.Enqueue("pageerror: " + error);
            _errors.Enqueue("pageerror: " + error);
        };
        Page = page;
        return page;
    }

    [TearDown]
    public async Task ClosePageAsync()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Failed && Page is not null)
        {
            var directory = Path.Combine(Repository.Root, ".data", "test-results", "console");
            Directory.CreateDirectory(directory);
            var name = string.Concat(TestContext.CurrentContext.Test.Name.Select(c => char.IsLetterOrDigit(c) ? c : '_'));
            try
            {
                await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, name + ".png"), FullPage = true });
            }
            catch (PlaywrightException e)
            {
                _log.Enqueue("screenshot failed: " + e.Message);
            }

            await File.WriteAllLinesAsync(Path.Combine(directory, name + ".console.log"), _log);
            TestContext.Out.WriteLine($"Screenshot and console log in {directory}");
        }

        if (Context is not null)
        {
            await Context.DisposeAsync();
        }
    }

    /// <summary>Signs in through the form, as a person would, and waits for the signed-in shell.</summary>
    protected async Task SignInAsync(string key, string hash = "#/jobs")
    {
        await Page.GotoAsync(ConsoleUrl(hash));
        await Page.GetByLabel("API key").FillAsync(key);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
    }

    /// <summary>A console error the test provokes on purpose (a request it expects to be refused): any message containing <paramref name="fragment"/>.</summary>
    protected void ExpectConsoleError(string fragment) => _expectedErrors.Add(fragment);

    protected void AssertNoConsoleErrors()
    {
        var unexpected = _errors.Where(e => !_expectedErrors.Any(e.Contains)).ToList();
        Assert.That(unexpected, Is.Empty, "console errors:\n" + string.Join("\n", _log));
    }

    private static async Task<IBrowser> BrowserAsync()
    {
        await Starting.WaitAsync();
        try
        {
            if (_browser is { IsConnected: true })
            {
                return _browser;
            }

            if (!File.Exists(ChromiumPath))
            {
                Assert.Fail($"{ChromiumPath} is missing: infra/up.sh installs Debian's chromium (make infra-up).");
            }

            _playwright ??= await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,

                // Root in a container: no sandbox. The rest keep Chromium off the (closed) network.
                Args =
                [
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                ],
            });
            return _browser;
        }
        finally
        {
            Starting.Release();
        }
    }

    /// <summary>Closes the browser at the end of the run (from <see cref="TestRun"/>'s teardown order, via this fixture).</summary>
    internal static async Task CloseBrowserAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}
