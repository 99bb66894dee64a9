//! Pictures: a user's own profile picture (re-encoded to a 256 px PNG, else an
//! initials avatar), the application logo and client logos; bad uploads change nothing.

use super::{World, audit, ok, signed_in};

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        width,
        height,
        image::Rgb([10, 120, 200]),
    ));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn fetch(w: &World, path: &str) -> (u16, String, Vec<u8>) {
    let res = crate::support::http()
        .get(w.server.url(path))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_user_uploads_and_removes_their_picture() {
    let w = World::new().await;
    let b = &w.target_browser;
    let path = format!("/pictures/users/{}", w.target.id);
    let (status, ctype, body) = fetch(&w, &path).await;
    assert_eq!((status, ctype.as_str()), (200, "image/svg+xml"));
    assert!(String::from_utf8(body).unwrap().contains("<text"));

    ok(&b.get("/account").await, "account");
    let res = b
        .upload("/account/picture", "picture", b"not a picture")
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.location.as_deref(),
        Some("/account?picture_error=format")
    );
    let page = b.get("/account?picture_error=format").await;
    assert!(page.body.contains("not a PNG, JPEG, WebP or SVG"));
    assert!(
        w.store()
            .image(&format!("user:{}", w.target.id))
            .await
            .unwrap()
            .is_none()
    );

    let res = b
        .upload("/account/picture", "picture", &png(800, 400))
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account?done=picture_updated")
    );
    let (status, ctype, body) = fetch(&w, &path).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"));
    let img = image::load_from_memory(&body).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    assert_eq!(audit(&w.server, "user.picture.updated").await.len(), 1);
    let page = b.get("/account").await;
    assert!(page.body.contains("Remove picture"));

    let res = b.submit("/account/picture/delete", &[]).await;
    assert_eq!(res.status, 303);
    let (_, ctype, _) = fetch(&w, &path).await;
    assert_eq!(ctype, "image/svg+xml");
    assert_eq!(fetch(&w, "/pictures/users/nobody").await.0, 404);
}

#[tokio::test]
async fn a_picture_wider_than_4096_pixels_is_refused_and_changes_nothing() {
    let w = World::new().await;
    let b = &w.target_browser;
    b.get("/account").await;
    // One pixel over the limit a side: refused from its header, before it is decoded.
    let res = b.upload("/account/picture", "picture", &png(4097, 1)).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account?picture_error=too_big")
    );
    let page = b.get("/account?picture_error=too_big").await;
    assert!(page.body.contains("larger than 4096 × 4096 pixels"));
    let owner = format!("user:{}", w.target.id);
    assert!(w.store().image(&owner).await.unwrap().is_none());
    assert!(audit(&w.server, "user.picture.updated").await.is_empty());

    // Logos have the same limit.
    let admin = signed_in(&w.server, "root").await;
    admin.get("/admin/settings").await;
    let res = admin
        .upload("/admin/settings/logo", "logo", &png(1, 4097))
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/settings?logo_error=too_big")
    );
    assert!(w.store().image("app").await.unwrap().is_none());
    // At the limit is fine.
    let res = b.upload("/account/picture", "picture", &png(4096, 2)).await;
    assert_eq!(
        res.location.as_deref(),
        Some("/account?done=picture_updated")
    );
}

#[tokio::test]
async fn uploads_beyond_a_burst_are_refused_with_429_for_that_person_only() {
    let w = World::new().await;
    let b = &w.target_browser;
    b.get("/account").await;
    let owner = format!("user:{}", w.target.id);
    for side in 1..=5 {
        let res = b
            .upload("/account/picture", "picture", &png(side, side))
            .await;
        assert_eq!(
            res.location.as_deref(),
            Some("/account?done=picture_updated"),
            "upload {side}"
        );
    }
    let before = w.store().image(&owner).await.unwrap().unwrap();
    let res = b.upload("/account/picture", "picture", &png(50, 50)).await;
    assert_eq!(res.status, 429, "{}", res.body);
    assert!(res.body.contains("Too many uploads"), "{}", res.body);
    assert!(res.body.contains("try again"), "{}", res.body);
    let after = w.store().image(&owner).await.unwrap().unwrap();
    assert_eq!(
        after.etag, before.etag,
        "the refused upload changed nothing"
    );
    assert_eq!(audit(&w.server, "user.picture.updated").await.len(), 5);

    // Someone else still can, logos included.
    let admin = signed_in(&w.server, "root").await;
    admin.get("/admin/settings").await;
    let res = admin
        .upload("/admin/settings/logo", "logo", &png(20, 10))
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/settings?done=logo_updated")
    );
}

#[tokio::test]
async fn an_upload_without_the_csrf_token_is_refused() {
    let w = World::new().await;
    let b = &w.target_browser;
    b.get("/account").await;
    let res = b
        .upload_with_token("/account/picture", "picture", &png(10, 10), "forged")
        .await;
    assert_eq!(res.status, 403);
    assert!(
        w.store()
            .image(&format!("user:{}", w.target.id))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn admins_set_the_application_logo_and_client_logos() {
    let w = World::new().await;
    let admin = signed_in(&w.server, "root").await;
    admin.get("/admin/settings").await;
    let res = admin
        .upload("/admin/settings/logo", "logo", &png(1200, 300))
        .await;
    assert_eq!(
        res.location.as_deref(),
        Some("/admin/settings?done=logo_updated")
    );
    let page = admin.get("/admin/settings").await;
    ok(&page, "settings with logo");
    assert!(
        page.body
            .contains("class=\"app-logo\" src=\"/pictures/app?v=")
    );
    let (status, ctype, body) = fetch(&w, "/pictures/app").await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"));
    let img = image::load_from_memory(&body).unwrap();
    assert_eq!((img.width(), img.height()), (512, 128));
    // Everyone's pages carry it, not only the admin's.
    let login = w.target_browser.get("/account").await;
    assert!(login.body.contains("src=\"/pictures/app?v="));

    let client_logo = format!("/admin/clients/{}/logo", w.client.id);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle cx="5" cy="5" r="5" fill="green"/></svg>"#;
    let res = admin.upload(&client_logo, "logo", svg).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let (status, ctype, _) = fetch(&w, &format!("/pictures/clients/{}", w.client.id)).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"));
    assert_eq!(audit(&w.server, "admin.client.logo_updated").await.len(), 1);
    let page = admin.get(&format!("/admin/clients/{}", w.client.id)).await;
    ok(&page, "client page with logo");
    assert!(
        page.body
            .contains(&format!("src=\"/pictures/clients/{}?v=", w.client.id))
    );
    let bad = admin.upload(&client_logo, "logo", b"%PDF-1.7").await;
    assert_eq!(
        bad.location.as_deref(),
        Some(format!("/admin/clients/{}?error=picture_format", w.client.id).as_str())
    );

    // A non-admin cannot.
    let b = &w.target_browser;
    let res = b.upload("/admin/settings/logo", "logo", &png(10, 10)).await;
    assert_eq!(res.status, 403);

    // Deleting the client deletes its logo.
    w.store().delete_client(&w.client.id).await.unwrap();
    assert!(
        w.store()
            .image(&format!("client:{}", w.client.id))
            .await
            .unwrap()
            .is_none()
    );

    let res = admin.submit("/admin/settings/logo/delete", &[]).await;
    assert_eq!(res.status, 303);
    assert_eq!(fetch(&w, "/pictures/app").await.0, 404);
    assert!(
        !admin
            .get("/admin/settings")
            .await
            .body
            .contains("src=\"/pictures/app?v=")
    );
}

#[tokio::test]
async fn my_apps_shows_the_clients_a_user_may_open_and_activity_lists_their_events() {
    use latchkey::oidc::registration::{ClientSpec, register};
    let w = World::new().await;
    let s = w.store();
    // Wiki (from World) has no launch URL: no tile. Two with one: for everyone, and for
    // a group tina is not in.
    for (name, groups) in [("Photos", vec![]), ("Payroll", vec!["finance".to_string()])] {
        if !groups.is_empty() {
            s.create_group("finance", "Finance").await.unwrap();
        }
        let (client, _) = register(
            s,
            ClientSpec {
                name: name.into(),
                redirect_uris: vec![format!("https://{}.example.org/cb", name.to_lowercase())],
                allowed_groups: groups,
                launch_url: Some(format!("https://{}.example.org/", name.to_lowercase())),
                ..ClientSpec::default()
            },
        )
        .await
        .unwrap();
        assert!(client.launch_url.is_some());
    }
    let page = w.target_browser.get("/account/apps").await;
    ok(&page, "my apps");
    assert!(page.body.contains("href=\"https://photos.example.org/\""));
    assert!(
        !page.body.contains("payroll.example.org"),
        "not in the group"
    );
    assert!(!page.body.contains(">Wiki<"), "no launch URL, no tile");

    let page = w.target_browser.get("/account/activity").await;
    ok(&page, "activity");
    assert!(page.body.contains("Signed in (password)"), "{}", page.body);
    // Someone else's events are not there.
    signed_in(&w.server, "root").await;
    let body = w.target_browser.get("/account/activity").await.body;
    assert_eq!(
        body.matches("Signed in (").count(),
        1,
        "only tina's own sign-in: {body}"
    );
}
