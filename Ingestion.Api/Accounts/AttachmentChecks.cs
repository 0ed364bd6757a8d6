using Ingestion.Platform.Statements;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Accounts;

/// <summary>
/// PDFsharp opens a document whole, so checking an attachment holds it in memory (at most
/// <c>Statements:MaxAttachmentBytes</c>; streaming it in holds only a buffer). Checks take turns,
/// <c>Statements:ConcurrentAttachmentChecks</c> at a time per API instance, so what attachments
/// cost the API is bounded however many arrive at once.
/// </summary>
public sealed class AttachmentChecks(IOptions<StatementOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _turns = new(options.Value.ConcurrentAttachmentChecks);

    public async Task<T> RunAsync<T>(Func<Task<T>> check, CancellationToken cancellationToken)
    {
        await _turns.WaitAsync(cancellationToken);
        try
        {
            return await check();
        }
        finally
        {
            _turns.Release();
        }
    }

    public void Dispose() => _turns.Dispose();
}
