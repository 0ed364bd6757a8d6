namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>Closes the one Chromium the console's tests share once they have all run.</summary>
[SetUpFixture]
public sealed class ConsoleRun
{
    [OneTimeTearDown]
    public Task CloseBrowserAsync() => ConsoleTest.CloseBrowserAsync();
}
