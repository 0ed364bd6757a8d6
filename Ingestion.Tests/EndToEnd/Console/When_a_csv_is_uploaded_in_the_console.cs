using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// A person uploads a 50 MB CSV from the console: the bar of bytes sent reaches 100 %, then on
/// the same page the rows count up live to the final count, and the rejects file is offered.
/// </summary>
public sealed class When_a_csv_is_uploaded_in_the_console : ConsoleTest
{
    private const long TargetBytes = 50L * 1024 * 1024;
    private static readonly int[] BadRows = [1_000, 77_777, 250_001];

    private string _file = null!;
    private int _rows;

    [OneTimeSetUp]
    public async Task WriteFileAsync()
    {
        // Generated line by line into a temporary file: the test never holds the 50 MB.
        _file = Path.Combine(Path.GetTempPath(), $"console-upload-{Guid.NewGuid():N}.csv");
        var csv = new TestCsv();
        await using var writer = new StreamWriter(_file, false, new UTF8Encoding(false));
        await writer.WriteAsync(TestCsv.Header + "\n");
        long written = TestCsv.Header.Length + 1;
        while (written < TargetBytes)
        {
            _rows++;
            var line = BadRows.Contains(_rows)
                ? csv.Row(_rows).Replace(",CHF,", ",NOT-A-CURRENCY,", StringComparison.Ordinal)
                : csv.Row(_rows);
            await writer.WriteAsync(line + "\n");
            written += Encoding.UTF8.GetByteCount(line) + 1;
        }
    }

    [OneTimeTearDown]
    public void DeleteFile() => File.Delete(_file);

    [Test]
    public async Task Should_show_the_bytes_sent_then_the_rows_counting_up_to_the_final_count_with_the_rejects_link()
    {
        ExpectConsoleError("/v1/session");
        await SignInAsync(Keys.Acme, "#/upload");
        await Page.GetByLabel("Dataset").SelectOptionAsync("transactions");
        await Page.GetByLabel("CSV file").SetInputFilesAsync(_file);
        await Expect(Page.GetByText(Path.GetFileName(_file))).ToBeVisibleAsync();

        // What the page showed along the way, as a person watching it would have seen it.
        await Page.EvaluateAsync("""
            () => {
              window.seen = { upload: [], loaded: [] };
              const watch = (selector, into) => new MutationObserver(() => {
                const node = document.querySelector(selector);
                if (node) into.push(node.textContent);
              }).observe(document.querySelector('main'), { subtree: true, childList: true, characterData: true });
              watch('#upload-status', window.seen.upload);
              watch('#live-loaded', window.seen.loaded);
            }
            """);
        var clock = Stopwatch.StartNew();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Upload", Exact = true }).ClickAsync();

        await Expect(Page.Locator("#upload-status")).ToContainTextAsync("100 %", new() { Timeout = 120_000 });
        var good = _rows - BadRows.Length;
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = $"Rejected rows ({BadRows.Length}), CSV" }))
            .ToBeVisibleAsync(new() { Timeout = 180_000 });
        await Expect(Page.Locator("#live-loaded")).ToHaveTextAsync(good.ToString("N0", CultureInfo.InvariantCulture));
        await Expect(Page.Locator("#live-rejected")).ToHaveTextAsync(BadRows.Length.ToString(CultureInfo.InvariantCulture));
        TestContext.Out.WriteLine($"{_rows} rows, {new FileInfo(_file).Length} bytes: uploaded and loaded in {clock.Elapsed.TotalSeconds:F1} s");

        var upload = await Page.EvaluateAsync<string[]>("() => window.seen.upload");
        Assert.That(upload.Any(text => text.Contains("MB of") && !text.StartsWith("100 %", StringComparison.Ordinal)), Is.True,
            "the bar moved through partial values: " + string.Join(" | ", upload.Take(5)));
        var loaded = (await Page.EvaluateAsync<string[]>("() => window.seen.loaded"))
            .Where(text => text != "–")
            .Select(text => long.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture))
            .ToList();
        Assert.That(loaded.Any(count => count > 0 && count < good), Is.True,
            "rows counted up live, not only the end: " + string.Join(", ", loaded.Distinct().Take(10)));
        Assert.That(loaded, Is.Ordered.Ascending);

        var rejects = await Page.GetByRole(AriaRole.Link, new() { Name = $"Rejected rows ({BadRows.Length}), CSV" }).GetAttributeAsync("href");
        using var http = new HttpClient();
        var lines = (await http.GetStringAsync(rejects)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Skip(1).Select(l => int.Parse(l.Split(',')[0], CultureInfo.InvariantCulture)),
            Is.EqualTo(BadRows.Select(row => row + 1)), "the rejects file lists the bad lines (the header is line 1)");
        AssertNoConsoleErrors();
    }
}
