-- synthetic_catalog.sql: a large, deterministic synthetic catalog for benchmarks.
--
--   psql -v ON_ERROR_STOP=1 -v products=100000 -f sql/tools/synthetic_catalog.sql
--   (or: scripts/gen-catalog.sh 100000)
--
-- IT REPLACES THE WHOLE CATALOG: in one transaction it runs
-- TRUNCATE products, categories RESTART IDENTITY CASCADE (so the demo catalog,
-- and rows of any table that references them, are gone) and then generates
-- 12 categories and :products products (10 .. 1,000,000; default 10000),
-- with ids 1..:products. The schema (sql/001*, sql/002*) must exist already.
-- The statement triggers of 002 bump recs_catalog_version as usual.
--
-- Pure SQL and deterministic: no random(); every choice comes from
-- hashint8extended(row number, salt), so the same :products gives the same
-- catalog on every run and every machine (PostgreSQL >= 11).
--
-- Each product belongs to one of 50 product families (running shoes, espresso
-- beans, cast iron skillets, backpacking tents, ...). A family fixes the
-- category, the product noun and the word pools for adjectives, materials,
-- uses and features, so products of one family share many words (their MinHash
-- similarity is high) and products of different families share few (brand,
-- colour and shop boilerplate only). Title + description average ~220 bytes.
-- About 0.5% of the products have no category (category_id NULL), like the
-- gift cards of the demo catalog. Titles and slugs are ASCII; slugs are the
-- slugified title plus "-<id>", hence unique.
--
-- Timing (PostgreSQL 15, default settings): 100,000 products in ~2 s,
-- 1,000,000 in ~20 s.

\set ON_ERROR_STOP 1
\if :{?products}
\else
  \set products 10000
\endif

-- Validate :products without pasting it into SQL unquoted.
SELECT set_config('recs.synthetic_products', :'products', false) AS products \gset
DO $$
DECLARE
  v text := current_setting('recs.synthetic_products');
BEGIN
  IF v !~ '^\s*[0-9]{1,7}\s*$' OR v::int NOT BETWEEN 10 AND 1000000 THEN
    RAISE EXCEPTION 'synthetic_catalog.sql: products must be an integer from 10 to 1000000, got "%"', v;
  END IF;
END
$$;

BEGIN;

TRUNCATE products, categories RESTART IDENTITY CASCADE;

INSERT INTO categories (slug, name) VALUES
  ('shoes',       'Shoes'),
  ('clothing',    'Clothing'),
  ('kitchen',     'Kitchen'),
  ('coffee-tea',  'Coffee & Tea'),
  ('electronics', 'Electronics'),
  ('outdoor',     'Outdoor & Camping'),
  ('home',        'Home & Living'),
  ('books',       'Books'),
  ('toys',        'Toys & Games'),
  ('garden',      'Garden'),
  ('sports',      'Sports & Fitness'),
  ('beauty',      'Beauty & Care');

-- One row per product family. kind is the product as a noun phrase for the
-- description ("a pair of running shoes"); materials are phrases that follow
-- it ("in recycled mesh"); uses follow "made for"; features follow "comes with".
CREATE TEMP TABLE synth_family (
  id          int PRIMARY KEY,
  category    text NOT NULL,
  noun        text NOT NULL,      -- title noun, title case
  kind        text NOT NULL,      -- description noun phrase, without article
  colours     boolean NOT NULL,   -- does a colour belong in the title?
  adjectives  text[] NOT NULL,
  materials   text[] NOT NULL,
  uses        text[] NOT NULL,
  features    text[] NOT NULL,
  price_lo    int NOT NULL,       -- cents
  price_hi    int NOT NULL,
  category_id bigint
) ON COMMIT DROP;

INSERT INTO synth_family (id, category, noun, kind, colours, adjectives, materials, uses, features, price_lo, price_hi) VALUES
-- shoes
(1, 'shoes', 'Running Shoes', 'pair of running shoes', true,
 ARRAY['lightweight','cushioned','responsive','breathable','neutral','stability'],
 ARRAY['in recycled mesh','in engineered knit','in breathable mesh','with a foam midsole'],
 ARRAY['daily training runs','long runs','tempo workouts','race day','easy recovery runs','marathon training'],
 ARRAY['a springy foam midsole','a breathable mesh upper','a durable rubber outsole','reflective details for night runs','a padded heel collar','a roomy toe box'],
 7999, 21999),
(2, 'shoes', 'Trail Running Shoes', 'pair of trail running shoes', true,
 ARRAY['grippy','waterproof','rugged','cushioned','lightweight','protective'],
 ARRAY['with a waterproof membrane','in abrasion-resistant mesh','with a rock plate','in ripstop mesh'],
 ARRAY['muddy trails','mountain races','rocky trail runs','ultra trail runs','wet forest paths'],
 ARRAY['5 mm lugs','a protective toe cap','a rock plate','a gusseted tongue that keeps out grit','a quick-lace system','a sticky rubber outsole'],
 9999, 17999),
(3, 'shoes', 'Hiking Boots', 'pair of hiking boots', true,
 ARRAY['waterproof','supportive','leather','lightweight','rugged','mid-cut'],
 ARRAY['in full-grain leather','in suede and mesh','with a waterproof lining','in nubuck leather'],
 ARRAY['multi-day treks','mountain trails','day hikes','scree and snow','backpacking trips'],
 ARRAY['a Vibram outsole','ankle support','a waterproof membrane','a deep-lugged sole','a cushioned footbed','a resoleable welt'],
 11999, 24999),
(4, 'shoes', 'Sneakers', 'pair of sneakers', true,
 ARRAY['classic','minimal','retro','low-top','high-top','everyday'],
 ARRAY['in white leather','in cotton canvas','in soft suede','in recycled canvas'],
 ARRAY['city walks','the office','weekends','summer days','everyday wear'],
 ARRAY['a vulcanized rubber sole','a cushioned insole','cotton laces','a padded collar','a stitched cupsole','metal eyelets'],
 4999, 12999),
(5, 'shoes', 'Sandals', 'pair of sandals', true,
 ARRAY['comfortable','quick-drying','adjustable','two-strap','sporty','summer'],
 ARRAY['on a cork footbed','in leather','with webbing straps','in waterproof EVA'],
 ARRAY['beach days','summer hikes','river crossings','hot city days','holidays'],
 ARRAY['a contoured footbed','adjustable buckles','a grippy sole','quick-drying straps','a soft toe post','arch support'],
 1999, 9999),
(6, 'shoes', 'Slippers', 'pair of slippers', true,
 ARRAY['cosy','warm','soft','plush','wool','moccasin'],
 ARRAY['lined with sheepskin','in boiled wool felt','with a fleece lining','with memory foam'],
 ARRAY['cold winter evenings','lazy Sunday mornings','wooden floors','the holiday cabin'],
 ARRAY['a non-slip sole','a memory foam insole','a plush lining','a suede upper','a machine washable cover'],
 2499, 8999),
-- clothing
(7, 'clothing', 'T-Shirt', 't-shirt', true,
 ARRAY['organic','heavyweight','classic','relaxed','slim','soft'],
 ARRAY['in organic cotton jersey','in heavyweight cotton','in a cotton and linen blend','in pima cotton'],
 ARRAY['everyday wear','layering','hot summer days','the weekend'],
 ARRAY['a ribbed crew neck','taped shoulder seams','a chest pocket','a pre-shrunk fit','a garment-dyed finish'],
 1999, 3999),
(8, 'clothing', 'Hoodie', 'hoodie', true,
 ARRAY['classic','heavyweight','zip-up','pullover','brushed','oversized'],
 ARRAY['in cotton fleece','in French terry','in organic cotton fleece','in recycled fleece'],
 ARRAY['autumn mornings','lazy weekends','layering','the gym'],
 ARRAY['a lined hood','a kangaroo pocket','ribbed cuffs','a metal zip','a brushed inside for warmth'],
 4999, 8999),
(9, 'clothing', 'Jeans', 'pair of jeans', true,
 ARRAY['slim','straight','relaxed','tapered','stretch','selvedge'],
 ARRAY['in raw selvedge denim','in stretch denim','in rigid cotton denim','in organic denim'],
 ARRAY['everyday wear','the office','work','weekends'],
 ARRAY['copper rivets','a button fly','five pockets','a mid-rise waist','indigo that fades with wear'],
 6999, 15999),
(10, 'clothing', 'Rain Jacket', 'rain jacket', true,
 ARRAY['waterproof','packable','lightweight','breathable','hooded','windproof'],
 ARRAY['in 2.5-layer nylon','in recycled polyester','in a three-layer shell fabric','with a waterproof membrane'],
 ARRAY['city showers','hiking','travel','cycling to work'],
 ARRAY['taped seams','an adjustable hood','pit zips','a stuff pocket','a water-repellent finish'],
 7999, 29999),
(11, 'clothing', 'Down Jacket', 'down jacket', true,
 ARRAY['warm','lightweight','quilted','packable','hooded','insulated'],
 ARRAY['filled with responsibly sourced goose down','filled with recycled down','with 800-fill down','with a recycled nylon shell'],
 ARRAY['cold city days','skiing','winter hikes','layering under a shell'],
 ARRAY['a stuff sack','zipped hand pockets','an insulated hood','elastic cuffs','a water-repellent finish'],
 11999, 27999),
(12, 'clothing', 'Wool Sweater', 'wool sweater', true,
 ARRAY['chunky','cable knit','fine','classic','warm','ribbed'],
 ARRAY['in lambswool','in merino wool','in Shetland wool','in a wool and cashmere blend'],
 ARRAY['cold winters','layering','cosy evenings','the office'],
 ARRAY['a crew neck','ribbed trims','a cable knit pattern','a relaxed fit','knitted in Scotland'],
 7999, 17999),
(13, 'clothing', 'Merino Socks', 'pack of merino socks', true,
 ARRAY['cushioned','warm','lightweight','hiking','running','everyday'],
 ARRAY['in merino wool','in a merino and nylon blend','in fine merino'],
 ARRAY['hiking boots','long runs','cold winter days','everyday wear','ski touring'],
 ARRAY['a reinforced heel and toe','seamless toes','arch support','odour-resistant merino wool','a cushioned sole'],
 1499, 3999),
-- kitchen
(14, 'kitchen', 'Chef Knife', 'chef knife', false,
 ARRAY['forged','razor sharp','balanced','Japanese','German','professional'],
 ARRAY['in high-carbon stainless steel','in Damascus steel','with a VG-10 steel core','in German stainless steel'],
 ARRAY['chopping vegetables','slicing meat and fish','everyday cooking','dicing onions and herbs'],
 ARRAY['a full tang','a riveted pakkawood handle','a hand-sharpened edge','a protective sheath','a balanced weight'],
 3999, 19999),
(15, 'kitchen', 'Cast Iron Skillet', 'cast iron skillet', false,
 ARRAY['pre-seasoned','heavy','classic','deep','family-size','enameled'],
 ARRAY['in seasoned cast iron','in enameled cast iron','in heavy cast iron'],
 ARRAY['searing steaks','skillet cornbread','oven roasting','campfire cooking','frying eggs'],
 ARRAY['a helper handle','pour spouts','natural nonstick seasoning','even heat retention','induction compatibility'],
 2999, 8999),
(16, 'kitchen', 'Frying Pan', 'frying pan', false,
 ARRAY['nonstick','tri-ply','induction-ready','lightweight','professional','oven-safe'],
 ARRAY['in tri-ply stainless steel','with a ceramic nonstick coating','in carbon steel','in hard-anodized aluminium'],
 ARRAY['eggs and pancakes','searing and browning','everyday cooking','fish and vegetables'],
 ARRAY['a stay-cool handle','flared edges for easy tossing','a riveted handle','an aluminium core','a glass lid'],
 2999, 12999),
(17, 'kitchen', 'Cutting Board', 'cutting board', false,
 ARRAY['end grain','reversible','thick','solid','large','knife-friendly'],
 ARRAY['in American walnut','in hard maple','in bamboo','in acacia wood'],
 ARRAY['chopping vegetables','carving roasts','serving cheese','bread and baking'],
 ARRAY['a juice groove','rubber feet','finger grips','a food-safe oil finish','a hanging hole'],
 1999, 14999),
(18, 'kitchen', 'Dutch Oven', 'Dutch oven', false,
 ARRAY['enameled','heavy','round','oval','classic','large'],
 ARRAY['in enameled cast iron','in seasoned cast iron','in stoneware'],
 ARRAY['braises and stews','no-knead bread','soups','slow cooking','pot roasts'],
 ARRAY['a tight-fitting lid','even heat','a chip-resistant enamel','wide loop handles','a stainless steel knob'],
 5999, 29999),
-- coffee & tea
(19, 'coffee-tea', 'Espresso Beans', 'bag of espresso beans', false,
 ARRAY['bold','smooth','dark roast','medium roast','single origin','decaf'],
 ARRAY['roasted in small batches','from high-altitude farms','from Brazil and Colombia','from Ethiopia','roasted every week'],
 ARRAY['milk drinks','morning espresso shots','cappuccinos','moka pots','espresso machines'],
 ARRAY['notes of chocolate and hazelnut','a syrupy body','a thick crema','low acidity','notes of caramel and red fruit'],
 999, 3499),
(20, 'coffee-tea', 'Espresso Machine', 'espresso machine', false,
 ARRAY['semi-automatic','dual boiler','compact','manual lever','prosumer','single boiler'],
 ARRAY['in brushed stainless steel','with a 58 mm portafilter','with PID temperature control','with a rotary pump'],
 ARRAY['cafe-quality espresso at home','milky cappuccinos','home baristas','latte art'],
 ARRAY['a steam wand for microfoam milk','a shot timer','pre-infusion','a commercial portafilter','a pressure gauge'],
 29999, 179999),
(21, 'coffee-tea', 'Coffee Grinder', 'coffee grinder', false,
 ARRAY['conical burr','flat burr','single-dose','manual','electric','precise'],
 ARRAY['with stainless steel burrs','in an aluminium body','with 64 mm flat burrs','with ceramic burrs'],
 ARRAY['espresso','pour over coffee','French press','travel and camping'],
 ARRAY['stepless grind adjustment','low retention','a grind timer','40 grind settings','a quiet motor'],
 4999, 49999),
(22, 'coffee-tea', 'Pour Over Coffee Maker', 'pour over coffee maker', false,
 ARRAY['ceramic','glass','classic','cone-shaped','hourglass','travel'],
 ARRAY['in borosilicate glass','in porcelain','in stainless steel','with a wood collar'],
 ARRAY['bright filter coffee','single cups','slow mornings','light roast coffee'],
 ARRAY['spiral ribs for an even extraction','a reusable metal filter','paper filters','a gooseneck pouring guide','a glass carafe'],
 1999, 5999),
(23, 'coffee-tea', 'Loose Leaf Tea', 'tin of loose leaf tea', false,
 ARRAY['green','black','organic','fragrant','smoky','herbal'],
 ARRAY['from Japan','from Darjeeling','from Yunnan','from Sri Lanka','scented with bergamot'],
 ARRAY['afternoon tea','slow mornings','iced tea','a teapot or infuser'],
 ARRAY['a fresh, grassy sweetness','notes of honey and malt','a bright golden cup','whole leaves that unfurl','a resealable tin'],
 799, 2999),
-- electronics
(24, 'electronics', 'Wireless Headphones', 'pair of wireless headphones', true,
 ARRAY['noise cancelling','over-ear','foldable','studio','true wireless','sport'],
 ARRAY['with Bluetooth 5.3','with 40 mm drivers','with memory foam ear cushions','with active noise cancelling'],
 ARRAY['travel and commuting','working from home','music and podcasts','flights'],
 ARRAY['30 hours of battery life','USB-C fast charging','a transparency mode','Bluetooth multipoint','a carrying case'],
 4999, 39999),
(25, 'electronics', 'Bluetooth Speaker', 'Bluetooth speaker', true,
 ARRAY['portable','waterproof','compact','rugged','smart','loud'],
 ARRAY['rated IP67','with 360-degree sound','with a fabric cover','with deep bass'],
 ARRAY['the beach','camping trips','parties','the kitchen','the shower'],
 ARRAY['20 hours of battery life','a built-in microphone','stereo pairing','USB-C charging','a carrying strap'],
 2999, 24999),
(26, 'electronics', 'USB-C Charger', 'USB-C charger', true,
 ARRAY['fast','compact','multi-port','GaN','travel','desktop'],
 ARRAY['with 65 W output','with 100 W output','with foldable prongs','with two USB-C ports'],
 ARRAY['laptops and phones','travel','the desk','tablets and earbuds'],
 ARRAY['a braided USB-C cable','power delivery','overheat protection','a USB-A port','universal voltage'],
 1999, 8999),
(27, 'electronics', 'Mechanical Keyboard', 'mechanical keyboard', true,
 ARRAY['tenkeyless','compact','wireless','hot-swappable','full-size','low-profile'],
 ARRAY['with tactile switches','with linear switches','in an aluminium case','with PBT keycaps'],
 ARRAY['programming','gaming','writing','the home office'],
 ARRAY['white backlighting','Bluetooth for three devices','a USB-C cable','hot-swappable switches','a detachable wrist rest'],
 5999, 24999),
(28, 'electronics', 'Smartwatch', 'smartwatch', true,
 ARRAY['GPS','fitness','rugged','slim','solar','running'],
 ARRAY['in an aluminium case','with a sapphire glass display','with a silicone strap','with an AMOLED display'],
 ARRAY['running and cycling','sleep tracking','swimming','everyday fitness','trail runs'],
 ARRAY['wrist heart rate','built-in GPS','a week of battery life','training plans','phone notifications'],
 9999, 59999),
-- outdoor
(29, 'outdoor', 'Backpacking Tent', 'backpacking tent', true,
 ARRAY['ultralight','freestanding','2-person','3-person','four-season','waterproof'],
 ARRAY['in ripstop nylon','with aluminium poles','with a silnylon rainfly','in a single-wall design'],
 ARRAY['backpacking trips','thru-hikes','camping weekends','mountain camps'],
 ARRAY['two doors and two vestibules','a waterproof rainfly','colour-coded poles','taped seams','a footprint'],
 14999, 59999),
(30, 'outdoor', 'Sleeping Bag', 'sleeping bag', true,
 ARRAY['warm','mummy','lightweight','three-season','synthetic','down'],
 ARRAY['with 700-fill water-resistant down','with synthetic insulation','in a ripstop shell','with a brushed lining'],
 ARRAY['backpacking','car camping','winter camping','summer camping'],
 ARRAY['a draft collar','a compression sack','a full-length zip','a comfort rating of -5C','a hood with drawcord'],
 6999, 44999),
(31, 'outdoor', 'Hiking Backpack', 'hiking backpack', true,
 ARRAY['ventilated','lightweight','65 litre','30 litre','trekking','technical'],
 ARRAY['in recycled nylon','in ripstop nylon','with an adjustable back system','in waterproof fabric'],
 ARRAY['day hikes','multi-day treks','backpacking trips','travel','hut-to-hut hikes'],
 ARRAY['a padded hip belt','an integrated rain cover','a hydration sleeve','hip belt pockets','side access zips'],
 5999, 29999),
(32, 'outdoor', 'Headlamp', 'headlamp', true,
 ARRAY['rechargeable','bright','lightweight','waterproof','compact','running'],
 ARRAY['with 450 lumens','with a USB-C battery','with a red night mode','with a reflective strap'],
 ARRAY['camping','night runs','hiking before sunrise','power cuts','fishing'],
 ARRAY['a red night mode','a lock mode','a tilting lamp head','a battery indicator','a comfortable strap'],
 1999, 8999),
(33, 'outdoor', 'Camping Stove', 'camping stove', false,
 ARRAY['compact','lightweight','backpacking','two-burner','windproof','folding'],
 ARRAY['in titanium','in stainless steel','for gas canisters','with piezo ignition'],
 ARRAY['backpacking trips','car camping','morning coffee at camp','the campsite kitchen'],
 ARRAY['piezo ignition','an adjustable flame','a windscreen','a carry case','pot supports'],
 3999, 14999),
-- home
(34, 'home', 'Scented Candle', 'scented candle', false,
 ARRAY['hand-poured','soy','beeswax','calming','woody','fresh'],
 ARRAY['in an amber glass jar','in a ceramic vessel','with a cotton wick','with a wooden wick'],
 ARRAY['cosy evenings','the bath','the living room','gifts'],
 ARRAY['notes of cedar and sage','notes of lavender and vanilla','50 hours of burn time','a clean burn','notes of fig and amber'],
 1499, 4999),
(35, 'home', 'Throw Blanket', 'throw blanket', true,
 ARRAY['chunky knit','soft','herringbone','waffle','warm','oversized'],
 ARRAY['in pure new wool','in organic cotton','in a merino blend','in recycled cotton'],
 ARRAY['the sofa','the foot of the bed','picnics','cold evenings'],
 ARRAY['fringed edges','a waffle weave','a herringbone pattern','a hand-knitted texture','a machine washable finish'],
 4999, 14999),
(36, 'home', 'Table Lamp', 'table lamp', true,
 ARRAY['ceramic','brass','dimmable','modern','vintage','adjustable'],
 ARRAY['with a linen shade','in glazed stoneware','in brushed brass','with a marble base'],
 ARRAY['bedside tables','reading','the home office','sideboards'],
 ARRAY['a warm, diffused light','a dimmer switch','a fabric cable','an E27 fitting','a USB charging port'],
 3999, 19999),
(37, 'home', 'Storage Basket', 'storage basket', true,
 ARRAY['woven','large','foldable','stackable','natural','handmade'],
 ARRAY['in seagrass','in cotton rope','in rattan','in black wire','in jute'],
 ARRAY['blankets and toys','laundry','the pantry','bathroom shelves','plants'],
 ARRAY['sturdy handles','a removable lining','a lid','a flat-folding design','hand-woven texture'],
 1499, 5999),
(38, 'home', 'Bath Towels', 'set of bath towels', true,
 ARRAY['plush','quick-drying','waffle','organic','absorbent','soft'],
 ARRAY['in Turkish cotton','in organic cotton','in a linen and cotton blend','in long-staple cotton'],
 ARRAY['the bathroom','the beach','the gym','guest rooms'],
 ARRAY['long, dense loops','a waffle weave','hanging loops','a 600 gsm weight','a machine washable finish'],
 2499, 7999),
-- books
(39, 'books', 'Cookbook', 'cookbook', false,
 ARRAY['vegetarian','Italian','baking','weeknight','family','seasonal'],
 ARRAY['in hardcover','with step-by-step photos','with 120 recipes','by an award-winning chef'],
 ARRAY['busy weeknights','weekend baking','dinner parties','family meals','cooking with kids'],
 ARRAY['quick one-pot recipes','sourdough bread and pastries','fresh pasta recipes','menus for every season','a chapter on desserts'],
 1499, 3999),
(40, 'books', 'Mystery Novel', 'mystery novel', false,
 ARRAY['gripping','Nordic','cosy','twisty','atmospheric','bestselling'],
 ARRAY['in paperback','in hardcover','as a large print edition'],
 ARRAY['long train journeys','rainy weekends','book clubs','summer holidays'],
 ARRAY['a detective in a small harbour town','a murder in the polar night','a locked-room puzzle','an unforgettable twist','a stolen painting'],
 999, 2499),
(41, 'books', 'Travel Guide', 'travel guide', false,
 ARRAY['practical','illustrated','pocket','hiking','road trip','updated'],
 ARRAY['in paperback','with fold-out maps','with 300 colour photos','with a waterproof cover'],
 ARRAY['road trips','city breaks','hiking holidays','travel by train'],
 ARRAY['detailed maps','itineraries for every budget','where to stay and eat','hiking trails','tips from local guides'],
 1299, 2999),
-- toys
(42, 'toys', 'Building Blocks', 'set of building blocks', true,
 ARRAY['wooden','magnetic','creative','classic','stackable','colourful'],
 ARRAY['in solid beech wood','in non-toxic plastic','with magnetic edges','in natural wood'],
 ARRAY['creative play','toddlers','STEM learning','rainy afternoons'],
 ARRAY['100 pieces','a storage box','idea cards','rounded edges','non-toxic paint'],
 1999, 7999),
(43, 'toys', 'Wooden Puzzle', 'wooden puzzle', false,
 ARRAY['chunky','animal','world map','educational','classic','jigsaw'],
 ARRAY['in birch plywood','in solid wood','with non-toxic paint'],
 ARRAY['toddlers','family evenings','learning shapes and colours','quiet play'],
 ARRAY['chunky pieces','knobs for little hands','a storage tray','500 pieces','a poster of the picture'],
 999, 3999),
(44, 'toys', 'Plush Toy', 'plush toy', true,
 ARRAY['soft','cuddly','huggable','washable','giant','tiny'],
 ARRAY['in organic cotton','in recycled plush','in soft faux fur'],
 ARRAY['bedtime','newborns','cuddles','gifts'],
 ARRAY['embroidered eyes','a machine washable fabric','a bear design','a bunny design','a safety-tested seam'],
 999, 4999),
-- garden
(45, 'garden', 'Garden Hose', 'garden hose', true,
 ARRAY['expandable','kink-free','heavy-duty','lightweight','30 metre','reinforced'],
 ARRAY['in reinforced PVC','in natural rubber','with brass fittings'],
 ARRAY['watering the garden','washing the car','the balcony','vegetable beds'],
 ARRAY['a spray nozzle with 8 patterns','brass connectors','a hose reel','UV resistance','a wall hanger'],
 1999, 8999),
(46, 'garden', 'Pruning Shears', 'pair of pruning shears', false,
 ARRAY['bypass','anvil','ergonomic','professional','ratchet','sharp'],
 ARRAY['in hardened steel','with a carbon steel blade','with forged aluminium handles'],
 ARRAY['roses and shrubs','fruit trees','the vegetable garden','deadheading flowers'],
 ARRAY['a safety lock','a sap groove','a replaceable blade','a shock absorber','a holster'],
 1499, 6999),
-- sports
(47, 'sports', 'Yoga Mat', 'yoga mat', true,
 ARRAY['non-slip','thick','travel','eco','cushioned','extra-long'],
 ARRAY['in natural rubber','in cork','in TPE foam','in jute'],
 ARRAY['yoga','pilates','home workouts','stretching','hot yoga'],
 ARRAY['alignment lines','a carrying strap','a grippy surface','6 mm of cushioning','a washable finish'],
 1999, 9999),
(48, 'sports', 'Dumbbells', 'pair of dumbbells', true,
 ARRAY['adjustable','hexagonal','compact','rubber-coated','neoprene','cast iron'],
 ARRAY['in cast iron','with a rubber coating','with knurled chrome handles','with neoprene coating'],
 ARRAY['home workouts','strength training','the garage gym','rehab exercises'],
 ARRAY['quick weight adjustment','a storage tray','an anti-roll hexagonal shape','a knurled grip','weights from 2 to 24 kg'],
 1999, 39999),
-- beauty
(49, 'beauty', 'Face Cream', 'face cream', false,
 ARRAY['hydrating','rich','light','fragrance-free','night','daily'],
 ARRAY['with hyaluronic acid','with shea butter','with vitamin C','with niacinamide'],
 ARRAY['dry skin','sensitive skin','mornings and evenings','winter'],
 ARRAY['a recyclable glass jar','natural ingredients','SPF 30','a non-greasy finish','vegan ingredients'],
 1499, 5999),
(50, 'beauty', 'Shampoo', 'shampoo', false,
 ARRAY['gentle','volumising','repairing','sulfate-free','solid','daily'],
 ARRAY['with argan oil','with rosemary and mint','with oat extract','in a solid bar'],
 ARRAY['dry hair','fine hair','curly hair','everyday washing'],
 ARRAY['a refillable bottle','natural ingredients','a fresh scent','vegan ingredients','a plastic-free bar'],
 799, 2999);

UPDATE synth_family f SET category_id = c.id FROM categories c WHERE c.slug = f.category;

-- Shop-wide word pools: brands, colours, closing sentences.
-- r0..r9 are independent 63-bit pseudo-random numbers per row number.
INSERT INTO products (id, slug, title, description, price_cents, category_id)
SELECT
  p.n,
  trim(both '-' from regexp_replace(lower(p.title), '[^a-z0-9]+', '-', 'g')) || '-' || p.n,
  p.title,
  p.description,
  p.price_cents,
  p.category_id
FROM (
  SELECT
    g.n,
    b.brand || ' ' || initcap(a.adj) || ' ' || f.noun
      || CASE WHEN f.colours AND r.r4 % 2 = 0 THEN ', ' || t.colour ELSE '' END AS title,
    -- sentence 1: what it is, what it is made of, what it is for
    CASE WHEN t.phrase ~ '^[aeiouAEIOU]' THEN 'An ' ELSE 'A ' END
      || t.phrase || ' ' || t.material
      || ', made for ' || t.use1 || ', and great for ' || t.use2 || '. '
    -- sentence 2: features (three distinct ones, or two)
    || CASE r.r5 % 3
         WHEN 0 THEN 'It comes with ' || t.feat1 || ', ' || t.feat2 || ' and ' || t.feat3 || '.'
         WHEN 1 THEN 'Details include ' || t.feat1 || ' and ' || t.feat2 || '.'
         ELSE 'Expect ' || t.feat1 || ', ' || t.feat2 || ' and ' || t.feat3 || '.'
       END
    -- sentence 3 (a quarter of the products): another use
    || CASE r.r6 % 8
         WHEN 0 THEN ' Customers also love it for ' || t.use3 || '.'
         WHEN 1 THEN ' A favourite of our team for ' || t.use3 || '.'
         ELSE ''
       END
    -- sentence 4 (25% of the products): shop boilerplate
    || CASE WHEN r.r7 % 20 < 5 THEN ' ' || t.closing ELSE '' END AS description,
    (f.price_lo + (r.r8 % (f.price_hi - f.price_lo + 1))) / 100 * 100 + 99 AS price_cents,
    CASE WHEN r.r9 % 200 = 0 THEN NULL ELSE f.category_id END AS category_id
  FROM generate_series(1, current_setting('recs.synthetic_products')::int) AS g(n)
  CROSS JOIN LATERAL (
    SELECT hashint8extended(g.n, 0) & 9223372036854775807 AS r0,
           hashint8extended(g.n, 1) & 9223372036854775807 AS r1,
           hashint8extended(g.n, 2) & 9223372036854775807 AS r2,
           hashint8extended(g.n, 3) & 9223372036854775807 AS r3,
           hashint8extended(g.n, 4) & 9223372036854775807 AS r4,
           hashint8extended(g.n, 5) & 9223372036854775807 AS r5,
           hashint8extended(g.n, 6) & 9223372036854775807 AS r6,
           hashint8extended(g.n, 7) & 9223372036854775807 AS r7,
           hashint8extended(g.n, 8) & 9223372036854775807 AS r8,
           hashint8extended(g.n, 9) & 9223372036854775807 AS r9
  ) AS r
  JOIN synth_family f ON f.id = 1 + r.r0 % (SELECT count(*) FROM synth_family)
  CROSS JOIN LATERAL (
    SELECT (ARRAY['Nordvik','Alder & Co','Brightwater','Fjellstad','Kestrel','Larkspur',
                  'Ridgeway','Saltmarsh','Tidewell','Hollis','Marlowe','Oakhurst',
                  'Pinecrest','Quillon','Redfern','Stonebridge','Thornbury','Umber',
                  'Vantage','Westfield','Yarrow','Zephyr','Copperline','Evergreen']
           )[1 + r.r1 % 24] AS brand
  ) AS b
  CROSS JOIN LATERAL (
    SELECT f.adjectives[1 + r.r2 % cardinality(f.adjectives)] AS adj
  ) AS a
  CROSS JOIN LATERAL (
    SELECT
      -- "soft slippers" but "pair of soft slippers", "bag of bold espresso beans"
      CASE WHEN f.kind ~ '^(pair|set|pack|bag|tin) of '
           THEN regexp_replace(f.kind, '^(\w+ of )', '\1' || a.adj || ' ')
           ELSE a.adj || ' ' || f.kind
      END AS phrase,
      f.materials[1 + r.r3 % cardinality(f.materials)] AS material,
      (ARRAY['Black','White','Navy','Olive','Sand','Charcoal','Forest Green','Rust',
             'Sky Blue','Burgundy','Stone','Mustard'])[1 + r.r4 / 2 % 12] AS colour,
      f.uses[1 + (r.r6 / 8) % cardinality(f.uses)] AS use1,
      f.uses[1 + (r.r6 / 8 + 1) % cardinality(f.uses)] AS use2,
      f.uses[1 + (r.r6 / 8 + 2) % cardinality(f.uses)] AS use3,
      f.features[1 + (r.r5 / 3) % cardinality(f.features)] AS feat1,
      f.features[1 + (r.r5 / 3 + 1) % cardinality(f.features)] AS feat2,
      f.features[1 + (r.r5 / 3 + 3) % cardinality(f.features)] AS feat3,
      (ARRAY['Free delivery on orders over 50 EUR.',
             'Ships within two working days.',
             'Backed by our two-year warranty.',
             'Free returns within 30 days.',
             'Packed plastic-free in recycled cardboard.',
             'A thoughtful gift for friends and family.',
             'Designed in Copenhagen, made to last.',
             'Part of our responsible sourcing programme.'])[1 + r.r7 / 20 % 8] AS closing
  ) AS t
) AS p;

SELECT setval(pg_get_serial_sequence('products', 'id'),
              current_setting('recs.synthetic_products')::bigint) AS last_product_id \gset

COMMIT;

ANALYZE categories;
ANALYZE products;

SELECT (SELECT count(*) FROM categories) AS categories,
       (SELECT count(*) FROM products) AS products,
       (SELECT round(avg(octet_length(title) + 1 + octet_length(description))) FROM products)
         AS avg_text_bytes;
