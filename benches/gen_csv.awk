# Deterministic CSV of realistic leads for `nudge import` benchmarks.
#
#   awk -v rows=100000 -v seed=42 -f benches/gen_csv.awk > leads.csv
#
# Columns as a CRM export has them: First Name, Last Name, Email, Phone,
# Company, Time Zone, Lead Source, and two custom columns (Industry, Deal Size).
# Phones mix US national format (needs `[general] default_region = "US"`),
# US/UK/German E.164 with and without spaces; some rows have no phone, some no
# email, some no time zone; some companies need CSV quoting. Every email and
# phone is unique, so every row imports.
#
# The generator uses its own Park-Miller LCG whose products stay below 2^53,
# so mawk, gawk and busybox awk all produce byte-identical files.

function rnd(n) {
    state = (state * 16807) % 2147483647
    return state % n
}

function split_list(s, arr) {
    return split(s, arr, "|")
}

BEGIN {
    if (rows == "") rows = 100000
    if (seed == "") seed = 42
    state = seed % 2147483647
    if (state <= 0) state = 1
    nf = split_list("James|Mary|Robert|Patricia|John|Jennifer|Michael|Linda|David|Elizabeth|William|Barbara|Richard|Susan|Joseph|Jessica|Thomas|Sarah|Carlos|Karen|Daniel|Lisa|Matthew|Nancy|Anthony|Betty|Mark|Sandra|Priya|Ashley|Wei|Emily|Hans|Sophie|Lukas|Ana|Oliver|Chloe|Mohammed|Fatima|Kenji|Yuki|Noah|Olivia|Liam|Emma|Mateo|Amelia", first)
    nl = split_list("Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|Lopez|Gonzalez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Perez|Thompson|White|Harris|Sanchez|Clark|Lewis|Robinson|Walker|Patel|Nguyen|Müller|Schmidt|Schneider|Fischer|Weber|O'Brien|Kowalski|Tanaka|Sato|Kim|Chen|Wang|Silva|Costa|Dubois|Rossi", last)
    nc1 = split_list("Acme|Globex|Initech|Umbrella|Stark|Wayne|Hooli|Vandelay|Soylent|Cyberdyne|Tyrell|Wonka|Oscorp|Aperture|Massive|Pied Piper|Northwind|Contoso|Fabrikam|Tailspin|Blue Yonder|Litware|Proseware|Adatum", cw1)
    nc2 = split_list("Labs|Systems|Industries|Logistics|Health|Dental|Roofing|Realty|Consulting|Software|Partners|Solar|Fitness|Legal|Insurance|Capital|Foods|Motors|Analytics|Media", cw2)
    nc3 = split_list("|| Inc.|, Inc.| LLC|, LLC| GmbH| Ltd| Co.", cw3)
    nd = split_list("gmail.com|outlook.com|yahoo.com|icloud.com|proton.me|hey.com|fastmail.com|example.com|example.org|mail.example.net", dom)
    nt = split_list("America/New_York|America/Chicago|America/Denver|America/Los_Angeles|America/Phoenix|Europe/London|Europe/Berlin|Europe/Paris|Asia/Tokyo|Australia/Sydney", tz)
    ns = split_list("website|webinar|referral|trade show|linkedin|google ads|cold outbound|partner", src)
    ni = split_list("SaaS|Healthcare|Construction|Real Estate|Retail|Manufacturing|Finance|Education|Hospitality|Logistics", ind)
    na = split_list("212|213|303|305|312|404|415|512|602|617|646|702|713|718|773|206|214|310|404|503", area)
    # Distinct local numbers: j = (i * 7919 + 1009) mod 8e6 is a bijection on
    # 0..8e6-1 (7919 is prime, 8e6 = 2^9 * 5^6), so up to 8M unique phones.
    print "First Name,Last Name,Email,Phone,Company,Time Zone,Lead Source,Industry,Deal Size"
    for (i = 0; i < rows; i++) {
        f = first[rnd(nf) + 1]
        l = last[rnd(nl) + 1]
        j = (i * 7919 + 1009) % 8000000
        exch = 200 + int(j / 10000)
        line = j % 10000
        a = area[(i % na) + 1]
        kind = rnd(100)
        if (kind < 30) phone = sprintf("(%s) %03d-%04d", a, exch, line)
        else if (kind < 45) phone = sprintf("%s-%03d-%04d", a, exch, line)
        else if (kind < 65) phone = sprintf("+1%s%03d%04d", a, exch, line)
        else if (kind < 72) phone = sprintf("+1 %s %03d %04d", a, exch, line)
        else if (kind < 80) phone = sprintf("+44 20 7%03d %04d", int(j / 10000), line)
        else if (kind < 88) phone = sprintf("+49 30 2%07d", j)
        else phone = ""
        # Emails are unique by the row number; a few are mixed case.
        user = tolower(substr(f, 1, 1)) "." tolower(l) "." i
        gsub(/[^a-z0-9.]/, "", user)
        email = user "@" dom[rnd(nd) + 1]
        if (rnd(20) == 0) email = f "." l i "@Example.COM"
        gsub(/[^A-Za-z0-9.@]/, "", email)
        if (phone != "" && rnd(25) == 0) email = ""
        company = cw1[rnd(nc1) + 1] " " cw2[rnd(nc2) + 1] cw3[rnd(nc3) + 1]
        if (index(company, ",") > 0) company = "\"" company "\""
        zone = rnd(10) < 8 ? tz[rnd(nt) + 1] : ""
        size = rnd(4) == 0 ? "" : (1 + rnd(200)) * 500
        printf "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", f, l, email, phone, company, zone, src[rnd(ns) + 1], ind[rnd(ni) + 1], size
    }
}
