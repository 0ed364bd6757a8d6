using System.Text.RegularExpressions;
using Ingestion.Api.Security;
using Ingestion.Api.Uploads;
using Ingestion.Platform.Limits;
using Ingestion.Platform.Statements;
using Ingestion.Platform.Storage;
using MassTransit;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Accounts;

public static partial class AccountDocumentsApi
{
    public static IEndpointRouteBuilder MapAccountDocumentsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/accounts/{accountId:long}/documents")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithTags("Statements");
        api.MapPost("/", Attach);
        api.MapGet("/", List);
        return app;
    }

    /// <summary>
    /// Attaches a PDF to an account (raw <c>application/pdf</c> body, or the <c>file</c> part of
    /// a form). Streamed into S3 like a CSV, then opened to make sure it is a PDF whose pages
    /// a statement can append; anything else is refused and deleted.
    /// </summary>
    public static async Task<Results<Created<AccountDocument>, ProblemHttpResult>> Attach(long accountId, HttpContext context,
        UploadIntake intake, ObjectStore store, AccountDocuments documents, IOptions<StatementOptions> options, IntakeSlots intakeSlots,
        AttachmentChecks checks, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var request = context.Request;
        var quota = options.Value.AttachmentQuotaBytesPerAccount;
        var isForm = request.HasFormContentType;
        var isPdf = MediaTypeHeaderValue.TryParse(request.ContentType, out var type)
                    && string.Equals(type.MediaType.Value, "application/pdf", StringComparison.OrdinalIgnoreCase);
        if (!isForm && !isPdf)
        {
            return TypedResults.Problem(statusCode: 415, title: "Unsupported content type",
                detail: $"Send the document as application/pdf, or as the 'file' part of multipart/form-data; got '{request.ContentType ?? "none"}'.");
        }

        // The quota is asked before the body is read, caps what may stream, and is asked again at insertion.
        var room = quota - await documents.UsedBytesAsync(tenant, accountId, cancellationToken);
        if (room <= 0 || request.ContentLength > room && request.ContentLength <= options.Value.MaxAttachmentBytes)
        {
            return OverQuota(accountId, quota, room);
        }

        var limit = Math.Min(options.Value.MaxAttachmentBytes, room);
        var (admitted, busy) = await UploadAdmission.EnterAsync(context, intakeSlots, tenant, cancellationToken);
        if (busy is not null)
        {
            return busy;
        }

        await using var inFlight = admitted;
        context.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;
        var documentId = NewId.NextGuid();
        var key = AccountDocuments.KeyFor(tenant, accountId, documentId);
        StoredObject stored;
        string? fileName;
        try
        {
            if (isForm)
            {
                var form = await MultipartUpload.StoreAsync(request, intake, store, key, "application/pdf", limit,
                    new Dictionary<string, Func<string, CancellationToken, Task<string?>>>(), cancellationToken);
                (stored, fileName) = (form.Stored, form.FileName);
            }
            else
            {
                stored = await intake.StoreAsync(request.Body, request.ContentLength, key, "application/pdf", limit, cancellationToken);
                fileName = ContentDispositionHeaderValue.TryParse(request.Headers.ContentDisposition.ToString(), out var disposition)
                    ? HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value
                    : null;
            }
        }
        catch (UploadTooLargeException e) when (e.Limit < options.Value.MaxAttachmentBytes)
        {
            return OverQuota(accountId, quota, room);
        }
        catch (UploadTooLargeException e)
        {
            return TypedResults.Problem(statusCode: 413, title: "Document too large",
                detail: $"An attached document may have at most {e.Limit:N0} bytes; nothing was kept.");
        }
        catch (EmptyUploadException)
        {
            return TypedResults.Problem(statusCode: 400, title: "Empty document", detail: "The document has no bytes.");
        }
        catch (UploadFormException e)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid upload form", detail: e.Message);
        }

        var pages = await checks.RunAsync(() => CountPagesAsync(store, key, stored.Bytes, cancellationToken), cancellationToken);
        if (pages.Problem is not null)
        {
            await store.DeleteAsync(key, CancellationToken.None);
            return TypedResults.Problem(statusCode: 400, title: "Not a valid PDF",
                detail: $"The document cannot be attached: {pages.Problem}. Nothing was kept.");
        }

        var document = new AccountDocument(documentId, accountId, SafeName(fileName), stored.Bytes, pages.Count, stored.Sha256,
            DateTimeOffset.UtcNow);
        AccountDocument? added;
        try
        {
            added = await documents.AddAsync(tenant, document, key, quota, cancellationToken);
        }
        catch (Exception)
        {
            await store.DeleteAsync(key, CancellationToken.None);
            throw;
        }

        if (added is null)
        {
            // Another attachment took the room while this one streamed.
            await store.DeleteAsync(key, CancellationToken.None);
            return OverQuota(accountId, quota, quota - await documents.UsedBytesAsync(tenant, accountId, CancellationToken.None));
        }

        document = added;
        return TypedResults.Created($"/v1/accounts/{accountId}/documents/{documentId}", document);
    }

    public static async Task<Ok<IReadOnlyList<AccountDocument>>> List(long accountId, HttpContext context, AccountDocuments documents,
        CancellationToken cancellationToken) =>
        TypedResults.Ok(await documents.ListAsync(Caller.From(context.User).TenantId!, accountId, cancellationToken));

    /// <summary>Reads the stored document back (at most the attachment limit) and opens it as PDFsharp will.</summary>
    private static async Task<(int Count, string? Problem)> CountPagesAsync(ObjectStore store, string key, long bytes,
        CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream((int)bytes);
        await using (var source = await store.OpenReadAsync(store.Bucket, key, 0, null, cancellationToken))
        {
            await source.CopyToAsync(buffer, cancellationToken);
        }

        buffer.Position = 0;
        using var document = PdfFiles.TryOpenForImport(buffer, out var problem);
        return document is null ? (0, problem) : (document.PageCount, null);
    }

    private static ProblemHttpResult OverQuota(long accountId, long quota, long room) =>
        TypedResults.Problem(statusCode: 409, title: "The account's attachment quota is full",
            detail: $"Account {accountId} may have {quota:N0} bytes of attached documents; {Math.Max(0, room):N0} are left, "
                    + "and this document does not fit. Nothing was kept.",
            extensions: new Dictionary<string, object?> { ["quotaBytes"] = quota, ["remainingBytes"] = Math.Max(0, room) });

    /// <summary>A file name fit to show and to download under: letters, digits and a few marks.</summary>
    private static string SafeName(string? name)
    {
        var cleaned = UnsafeCharacters().Replace(Path.GetFileName(name ?? ""), "_").Trim('_', '.', ' ');
        cleaned = cleaned.Length > 120 ? cleaned[..120] : cleaned;
        return cleaned.Length == 0 ? "document.pdf" : cleaned;
    }

    [GeneratedRegex(@"[^\p{L}\p{N}._ -]")]
    private static partial Regex UnsafeCharacters();
}
