using System.Globalization;
using System.Text;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Ingestion.Tests.EndToEnd.Console.Views;

/// <summary>
/// A tenant registers a dataset with the form (typed columns, a key, a policy), a file is loaded
/// into it, and the dataset's page shows every row once, a page at a time, and exports the CSV.
/// </summary>
public sealed class When_a_dataset_is_registered_and_browsed_in_the_console : ViewsTest
{
    private const int Rows = 120;
    private readonly string _name = "console_orders_" + Guid.NewGuid().ToString("N")[..6];

    [Test]
    public async Task Should_register_it_browse_every_row_once_and_export_it()
    {
        await SignInAsync(Keys.Acme, "#/datasets");
        await Page.GetByLabel("Dataset name").FillAsync(_name);
        var first = Page.GetByRole(AriaRole.Group, new() { Name = "Column 1" });
        await first.GetByLabel("Name").FillAsync("sku");
        await first.GetByLabel("Type").FillAsync("text");
        await first.GetByLabel("Required").CheckAsync();
        await first.GetByLabel("Part of the key").CheckAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Add a column" }).ClickAsync();
        var second = Page.GetByRole(AriaRole.Group, new() { Name = "Column 2" });
        await second.GetByLabel("Name").FillAsync("quantity");
        await second.GetByLabel("Type").FillAsync("integer");
        await Page.GetByLabel("On key conflict").SelectOptionAsync("upsert");
        await ScreenshotAsync("datasets");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Register" }).ClickAsync();
        await Assertions.Expect(Page.GetByRole(AriaRole.Heading, new() { Name = $"Dataset {_name}" })).ToBeVisibleAsync();

        using var acme = ViewsRun.Stack.Client(Keys.Acme);
        var dataset = await acme.GetJsonAsync($"/v1/datasets/{_name}");
        Assert.That(dataset["key"]!.AsArray().Select(k => k!.GetValue<string>()), Is.EqualTo(new[] { "sku" }));
        Assert.That(dataset["onKeyConflict"]!.GetValue<string>(), Is.EqualTo("upsert"));
        Assert.That(dataset["columns"]![1]!["type"]!.GetValue<string>(), Is.EqualTo("integer"));

        var csv = new StringBuilder("sku,quantity\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"sku-{i:000},{i}\n");
        }

        var load = await acme.WaitForJobEndAsync(await acme.StartUploadAsync(_name, Encoding.UTF8.GetBytes(csv.ToString())));
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());

        await Page.ReloadAsync();
        var seen = new List<string>();
        var status = Page.Locator("p.page-status");
        var next = Page.GetByRole(AriaRole.Button, new() { Name = "Next page" });
        await Assertions.Expect(status).ToHaveTextAsync("Page 1: 50 rows, more follow.");
        await ScreenshotAsync("dataset");
        seen.AddRange(await Page.Locator(".rows tbody tr td:first-child").AllInnerTextsAsync());
        await next.ClickAsync();
        await Assertions.Expect(status).ToHaveTextAsync("Page 2: 50 rows, more follow.");
        seen.AddRange(await Page.Locator(".rows tbody tr td:first-child").AllInnerTextsAsync());
        await next.ClickAsync();
        await Assertions.Expect(status).ToHaveTextAsync("Page 3: 20 rows, the last page.");
        await Assertions.Expect(next).ToBeDisabledAsync();
        seen.AddRange(await Page.Locator(".rows tbody tr td:first-child").AllInnerTextsAsync());
        Assert.That(seen, Is.EqualTo(Enumerable.Range(1, Rows).Select(i => $"sku-{i:000}")), "every row once, in key order");

        await Page.GetByRole(AriaRole.Button, new() { Name = "Previous page" }).ClickAsync();
        await Assertions.Expect(status).ToHaveTextAsync("Page 2: 50 rows, more follow.");
        await Assertions.Expect(Page.Locator(".rows tbody tr td:first-child").First).ToHaveTextAsync("sku-051");

        var download = await Page.RunAndWaitForDownloadAsync(() => Page.GetByRole(AriaRole.Link, new() { Name = "Export as CSV" }).ClickAsync());
        var exported = await File.ReadAllLinesAsync((await download.PathAsync())!);
        Assert.That(download.SuggestedFilename, Is.EqualTo($"{_name}.csv"));
        Assert.That(exported[0], Is.EqualTo("sku,quantity"));
        Assert.That(exported.Skip(1).Order(StringComparer.Ordinal), Is.EqualTo(csv.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)),
            "the export holds every row as loaded");
        AssertNoConsoleErrors();
    }
}
